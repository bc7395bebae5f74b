#!/usr/bin/env python3
"""Facts evaluation against a running memd, over its socket.

  scripts/facts_eval.py locomo --socket S DATA.json --scorer PATH/facts_score.py
      [--out facts.jsonl] [--skip-import] [--skip-dream] [--python PY] [--json]
  scripts/facts_eval.py ku --socket S DATA.json --scorer PATH/score_ku.py
      [--out-dir DIR] [--skip-import] [--skip-dream] [--python PY] [--json]
  scripts/facts_eval.py summary RESULT.json...

`locomo` imports a LoCoMo-format file (as scripts/locomo_eval.py does: one
namespace per conversation, ext_id = dia_id), forces dream passes until
caught up, times them, lists every fact of each namespace (every status but
invalid), writes them as facts_score.py's FACTS.jsonl ({sample_id, text,
provenance: the fact's ext_ids}) and prints the scorer's JSON with the
pass's turns per second added.

`ku` imports the knowledge-update set (LoCoMo format plus `updates`), dreams,
then asks each update's question through recall over facts (tiers ["fact"])
and through hybrid recall over turns (tiers ["exchange"]), and each as_of
probe's question with its `as_of`, k 5; it writes one answers.jsonl per side
in score_ku.py's format (returned_ids: a fact's provenance ext_ids, a turn's
ext_id), scores both and prints one table.

`summary` reads the --json outputs of these and of `locomo_eval.py --json`
and prints them together (scripts/bench-facts.sh uses it).

The scorers run under --python (default: the bench venv,
$BENCH_VENV or ~/.cache/memd-bench-venv); facts_score.py finds the model in
MEMD_MODEL_DIR. Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

# No scripts/__pycache__ in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import locomo_eval as le  # noqa: E402  (the shared import and connection code)

KU_K = 5
KU_METRICS = ["current@1", "current@5", "stale_leak@5", "distractor_leak@5", "as_of@1"]


def default_python():
    venv = os.environ.get("BENCH_VENV") or os.path.expanduser("~/.cache/memd-bench-venv")
    py = os.path.join(venv, "bin", "python")
    return py if os.path.exists(py) else sys.executable


def prepare(memd, data, skip_import, skip_dream):
    """Import (idempotent) and dream; the dream record, or None when skipped."""
    if not skip_import:
        t0 = time.time()
        n = sum(le.import_conversation(memd, conv) for conv in data)
        st = le.wait_embedded(memd)
        print(f"imported {n} turns of {len(data)} conversations; embedded with "
              f'{st["embedder"]["model"]} in {time.time() - t0:.1f}s', file=sys.stderr)
    if skip_dream:
        return None
    dream = le.run_dream(memd, data)
    turns = sum(len(t) for conv in data for _, _, t in le.sessions(conv))
    dream["turns"] = turns
    dream["turns_per_s"] = turns / dream["wall_s"] if dream["wall_s"] else None
    acts = {}
    for ns, v in dream.items():
        if isinstance(v, dict):
            for k, c in v["actions"].items():
                acts[k] = acts.get(k, 0) + c
    print(f"dream: {dream['wall_s']:.1f}s wall over {turns} turns ({dream['turns_per_s']:.1f} turns/s); "
          f"actions {json.dumps(acts, sort_keys=True)}", file=sys.stderr)
    dream["actions"] = acts
    return dream


def list_facts(memd, ns, page=1000):
    """Every fact of a namespace but the invalid ones, oldest first."""
    out = []
    offset = 0
    while True:
        q = urllib.parse.urlencode({"namespace": ns, "include_retired": "true",
                                    "limit": page, "offset": offset})
        got = memd.call("GET", f"/v1/facts?{q}")["facts"]
        out.extend(f for f in got if f["status"] != "invalid")
        if len(got) < page:
            break
        offset += page
    out.sort(key=lambda f: f["id"])
    return out


def run_scorer(python, argv):
    r = subprocess.run([python] + argv, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"scorer failed ({r.returncode}): {' '.join(argv)}")
    return r.stdout


def cmd_locomo(a):
    data = json.load(open(a.file))
    memd = le.Memd(a.socket)
    dream = prepare(memd, data, a.skip_import, a.skip_dream)
    out = a.out or os.path.join(tempfile.mkdtemp(prefix="memd-facts."), "facts.jsonl")
    statuses = {}
    n = 0
    with open(out, "w") as f:
        for conv in data:
            for fact in list_facts(memd, le.namespace(conv)):
                statuses[fact["status"]] = statuses.get(fact["status"], 0) + 1
                prov = fact.get("provenance") or {}
                f.write(json.dumps({"sample_id": conv["sample_id"], "text": fact["text"],
                                    "provenance": list(prov.get("ext_ids") or [])}) + "\n")
                n += 1
    print(f"wrote {n} facts to {out} ({json.dumps(statuses, sort_keys=True)})", file=sys.stderr)
    score = json.loads(run_scorer(a.python, [a.scorer, a.file, out]).strip().splitlines()[-1])
    score["statuses"] = statuses
    if dream:
        score["dream_wall_s"] = round(dream["wall_s"], 2)
        score["turns"] = dream["turns"]
        score["turns_per_s"] = round(dream["turns_per_s"], 1) if dream["turns_per_s"] else None
        score["dream_actions"] = dream["actions"]
    score["facts_file"] = out
    print(json.dumps({"eval": "locomo-facts", **score}) if a.json else json.dumps(score))


def as_instant(s):
    # The probes' instants are naive; the import wrote the session dates as UTC.
    return s if s.endswith("Z") or "+" in s[10:] else s + "Z"


def ask(memd, ns, question, tiers, as_of, cache):
    body = {"query": question, "k": KU_K, "namespace": ns, "mode": "hybrid", "tiers": tiers}
    if as_of:
        body["as_of"] = as_instant(as_of)
    hits = memd.call("POST", "/v1/recall", body)["results"][:KU_K]
    ids = []
    for h in hits:
        for i in le.hit_ext_ids(memd, h, cache):
            if i not in ids:
                ids.append(i)
    return [h["content"] for h in hits], ids


def cmd_ku(a):
    data = json.load(open(a.file))
    memd = le.Memd(a.socket)
    dream = prepare(memd, data, a.skip_import, a.skip_dream)
    out_dir = a.out_dir or tempfile.mkdtemp(prefix="memd-ku.")
    os.makedirs(out_dir, exist_ok=True)
    sides = {"facts": ["fact"], "turns": ["exchange"]}
    cache = {}
    table = {}
    for side, tiers in sides.items():
        path = os.path.join(out_dir, f"answers-{side}.jsonl")
        with open(path, "w") as f:
            for conv in data:
                ns = le.namespace(conv)
                for u in conv.get("updates", []):
                    key = {"sample_id": conv["sample_id"], "speaker": u["speaker"], "slot": u["slot"]}
                    texts, ids = ask(memd, ns, u["question"], tiers, None, cache)
                    f.write(json.dumps({**key, "kind": "current", "returned": texts,
                                        "returned_ids": ids}) + "\n")
                    for p in u.get("as_of_probes", []):
                        texts, ids = ask(memd, ns, p["question"], tiers, p["as_of"], cache)
                        f.write(json.dumps({**key, "kind": "as_of", "as_of": p["as_of"],
                                            "returned": texts, "returned_ids": ids}) + "\n")
        report = os.path.join(out_dir, f"report-{side}.json")
        run_scorer(a.python, [a.scorer, "--data", a.file, "--answers", path, "--out", report])
        rep = json.load(open(report))
        table[side] = {"metrics": rep["metrics"]["all"], "counts": rep["counts"],
                       "answers": path, "report": report}
    result = {"eval": "ku", "tables": table}
    if dream:
        result["dream_wall_s"] = round(dream["wall_s"], 2)
        result["dream_actions"] = dream["actions"]
    if a.json:
        print(json.dumps(result))
    else:
        print_ku(result)


def print_ku(result):
    print(f"{'recall over':12} " + " ".join(f"{m:>18}" for m in KU_METRICS))
    for side, t in result["tables"].items():
        print(f"{side:12} " + " ".join(
            f"{t['metrics'][m]:18.3f}" if m in t["metrics"] else f"{'-':>18}" for m in KU_METRICS))
    c = next(iter(result["tables"].values()))["counts"]
    print(f"slots: {c['slots']} ({c['slots_changed']} changed), as_of probes: {c['as_of_probes']}")


def cmd_summary(a):
    docs = []
    for p in a.files:
        with open(p) as f:
            docs.extend(json.loads(line) for line in f if line.strip().startswith("{"))
    for d in docs:
        if d.get("eval") == "locomo-facts":
            print(f"LoCoMo facts: coverage {d['coverage']:.3f}, precision {d['precision']:.3f}, "
                  f"provenance {d['provenance']:.3f}, {d['facts']} facts "
                  f"({d['facts_per_session']} per session; {d['observations']} observations)")
            if "turns_per_s" in d:
                print(f"  dream pass: {d['turns']} turns in {d['dream_wall_s']} s "
                      f"= {d['turns_per_s']} turns/s")
        elif d.get("eval") == "ku":
            print("Knowledge updates (k 5):")
            print_ku(d)
        elif "results" in d:
            print("LoCoMo recall:")
            for mode, t in d["results"].items():
                o = t["overall"]
                extra = (f", {t['fact_hits_per_query']:.2f} fact hits in the top 10"
                         if "fact_hits_per_query" in t else "")
                print(f"  {mode:14} R@5 {o['recall@5']:.3f}  R@10 {o['recall@10']:.3f}  "
                      f"hit@10 {o['hit@10']:.3f}  (n {o['n']}{extra})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("locomo", "ku"):
        p = sub.add_parser(name)
        p.add_argument("file")
        p.add_argument("--socket", required=True)
        p.add_argument("--scorer", required=True)
        p.add_argument("--python", default=default_python(), help="interpreter of the scorer")
        p.add_argument("--skip-import", action="store_true")
        p.add_argument("--skip-dream", action="store_true")
        p.add_argument("--json", action="store_true", help="one JSON line (for `summary`)")
        if name == "locomo":
            p.add_argument("--out", help="FACTS.jsonl to write (default: a temp dir)")
        else:
            p.add_argument("--out-dir", help="where the answers and reports go (default: a temp dir)")
    p = sub.add_parser("summary")
    p.add_argument("files", nargs="+")
    a = ap.parse_args()
    {"locomo": cmd_locomo, "ku": cmd_ku, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
