#!/usr/bin/env python3
"""LoCoMo retrieval evaluation against a running memd, over its socket.

Imports each conversation of a LoCoMo-format file into its own namespace
(one session per LoCoMo session, one exchange per turn, ext_id = dia_id,
created_at from the session's date, the speaker's name kept with the text and
an image's caption with its turn), waits until every row is embedded, then
asks every question with evidence except the adversarial category through
POST /v1/recall and prints recall@5, recall@10 (fraction of evidence turns in
the top k) and hit@10 per category and overall.

  scripts/locomo_eval.py --socket PATH FILE [--mode hybrid|lexical|vector]...
      [--json] [--skip-import] [--rrf-k K --fts-weight W --vector-weight W]
      [--dream] [--context 2000,4000] [--with-facts]

--dream runs a forced dream pass until caught up over each conversation's
namespace (and reports its time); --context B,... asks POST /v1/context for
every question at each budget, with the dream tiers and without them, and
reports answer containment: the share of questions whose normalised gold
answer appears in the pack's text. --with-facts adds a row per mode that
recalls with the fact tier among the tiers: a fact hit counts as the turns
its provenance's ext_ids name (so R@10 with facts sits beside R@10 without);
run it after facts exist (--dream, or an earlier pass).

Standard library only. Re-running is safe: the import is idempotent (ext_id).
"""
import argparse
import http.client
import json
import re
import socket
import sys
import time
from datetime import datetime, timedelta

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("memd", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Memd:
    def __init__(self, path):
        self.path = path
        self.conn = UnixHTTPConnection(path)

    def call(self, method, url, body=None, raw=False):
        data = body if raw else (json.dumps(body).encode() if body is not None else None)
        for attempt in range(2):
            try:
                self.conn.request(method, url, body=data, headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
                if attempt:
                    raise
        value = json.loads(payload)
        if resp.status >= 300:
            raise SystemExit(f"memd {method} {url}: {resp.status} {value}")
        return value


def parse_when(s):
    # "1:56 pm on 8 May, 2023"
    return datetime.strptime(s.strip(), "%I:%M %p on %d %B, %Y")


def sessions(conv):
    c = conv["conversation"]
    keys = [k for k in c if re.fullmatch(r"session_\d+", k)]
    for k in sorted(keys, key=lambda k: int(k[8:])):
        yield int(k[8:]), c.get(k + "_date_time"), c[k]


def turn_text(t):
    text = f'{t["speaker"]}: {t["text"]}'
    if t.get("blip_caption"):
        text += f' [shares {t["blip_caption"]}]'
    return text


def namespace(conv):
    return f'locomo-{conv["sample_id"]}'


def import_conversation(memd, conv):
    lines = []
    ns = namespace(conv)
    for n, when, turns in sessions(conv):
        base = parse_when(when) if when else datetime(2023, 1, 1)
        for i, t in enumerate(turns):
            # Turns a few seconds apart keep their order within the session.
            at = (base + timedelta(seconds=i * 10)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(json.dumps({
                "session_id": f'{conv["sample_id"]}-s{n}',
                "namespace": ns,
                "role": "user",
                "content": turn_text(t),
                "ext_id": t["dia_id"],
                "created_at": at,
                "metadata": {"speaker": t["speaker"], "session_date": when},
            }))
    out = memd.call("POST", "/v1/import", ("\n".join(lines) + "\n").encode(), raw=True)
    if out["rejected"]:
        raise SystemExit(f"rejected lines: {out['rejected'][:3]}")
    return out["imported"] + out["duplicates"]


def wait_embedded(memd, limit_s=3600):
    start = time.time()
    while True:
        st = memd.call("GET", "/v1/status")
        if st["embedder"]["backlog"] == 0:
            return st
        if time.time() - start > limit_s:
            raise SystemExit("embedding backlog did not drain")
        time.sleep(0.5)


def evidence(qa, valid):
    ids = set()
    for e in qa.get("evidence") or []:
        for a, b in re.findall(r"D:?(\d+):(\d+)", e):
            d = f"D{int(a)}:{int(b)}"
            if d in valid:
                ids.add(d)
    return ids


def fact_ext_ids(memd, hit, cache):
    """The dia_ids a fact hit stands for: its provenance's ext_ids (from the
    hit when recall carries them, else from GET /v1/facts/{id}, once)."""
    prov = hit.get("provenance")
    if not isinstance(prov, dict):
        if hit["id"] not in cache:
            cache[hit["id"]] = memd.call("GET", f'/v1/facts/{hit["id"]}')["fact"].get("provenance") or {}
        prov = cache[hit["id"]]
    return list(prov.get("ext_ids") or [])


def hit_ext_ids(memd, hit, cache):
    """The turns one recall hit counts as: a fact its provenance's, a turn its own."""
    if hit["tier"] == "fact":
        return fact_ext_ids(memd, hit, cache)
    return [hit["ext_id"]] if hit.get("ext_id") else []


def evaluate(memd, data, mode, overrides, with_facts=False):
    per = {}
    latencies = []
    cache = {}
    fact_hits = 0
    for conv in data:
        valid = {t["dia_id"] for _, _, turns in sessions(conv) for t in turns}
        for qa in conv["qa"]:
            cat = qa.get("category")
            if cat not in CATEGORIES:
                continue
            gold = evidence(qa, valid)
            if not gold:
                continue
            body = {"query": qa["question"], "k": 10, "namespace": namespace(conv), "mode": mode,
                    "tiers": ["exchange", "fact"] if with_facts else ["exchange"]}
            body.update(overrides)
            t0 = time.perf_counter()
            res = memd.call("POST", "/v1/recall", body)
            latencies.append((time.perf_counter() - t0) * 1000)
            # Rank by hit; a fact stands for every turn its provenance names.
            got = [set(hit_ext_ids(memd, r, cache)) for r in res["results"]]
            fact_hits += sum(1 for r in res["results"][:10] if r["tier"] == "fact")
            top5, top10 = set().union(*got[:5]), set().union(*got[:10])
            r5 = len(gold & top5) / len(gold)
            r10 = len(gold & top10) / len(gold)
            hit = 1.0 if gold & top10 else 0.0
            for key in (CATEGORIES[cat], "overall"):
                s = per.setdefault(key, [0, 0.0, 0.0, 0.0])
                s[0] += 1
                s[1] += r5
                s[2] += r10
                s[3] += hit
    table = {k: {"n": v[0], "recall@5": v[1] / v[0], "recall@10": v[2] / v[0], "hit@10": v[3] / v[0]}
             for k, v in per.items()}
    latencies.sort()
    if with_facts:
        table["fact_hits_per_query"] = fact_hits / max(table["overall"]["n"], 1)
    table["latency_ms"] = {"p50": latencies[len(latencies) // 2],
                           "p95": latencies[int(len(latencies) * 0.95)]}
    return table


def normalise(s):
    s = re.sub(r"[^0-9a-z ]+", " ", str(s).lower())
    return " ".join(s.split())


def run_dream(memd, data):
    out = {}
    t0 = time.time()
    for conv in data:
        ns = namespace(conv)
        r = memd.call("POST", "/v1/dream", {"namespace": ns, "force": True,
                                             "until_caught_up": True, "wait": True})
        runs = r["runs"]
        actions = {}
        for x in runs:
            for act in x["actions"] or []:
                actions[act["action"]] = actions.get(act["action"], 0) + 1
        out[ns] = {"passes": len(runs), "gists": actions.get("gist", 0), "actions": actions,
                   "took_ms": sum(x["took_ms"] or 0 for x in runs)}
    out["wall_s"] = time.time() - t0
    return out


def containment(memd, data, budget, without_dream):
    per = {}
    for conv in data:
        for qa in conv["qa"]:
            cat = qa.get("category")
            if cat not in CATEGORIES or "answer" not in qa:
                continue
            gold = normalise(qa["answer"])
            if not gold:
                continue
            pack = memd.call("POST", "/v1/context", {"query": qa["question"], "namespace": namespace(conv),
                                                     "budget_chars": budget, "without_dream": without_dream})
            text = normalise(" ".join(it["text"] for sec in pack["sections"] for it in sec["items"]))
            hit = 1.0 if gold in text else 0.0
            for key in (CATEGORIES[cat], "overall"):
                s = per.setdefault(key, [0, 0.0])
                s[0] += 1
                s[1] += hit
    return {k: {"n": v[0], "containment": v[1] / v[0]} for k, v in per.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--mode", action="append", choices=["hybrid", "lexical", "vector"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-import", action="store_true")
    ap.add_argument("--rrf-k", type=float)
    ap.add_argument("--fts-weight", type=float)
    ap.add_argument("--vector-weight", type=float)
    ap.add_argument("--candidates", type=int)
    ap.add_argument("--neighbor-weight", type=float)
    ap.add_argument("--entity-boost", type=float)
    ap.add_argument("--max-term-df", type=float)
    ap.add_argument("--max-terms", type=int)
    ap.add_argument("--dream", action="store_true")
    ap.add_argument("--context", help="comma-separated budgets, e.g. 2000,4000")
    ap.add_argument("--with-facts", action="store_true",
                    help="also recall with the fact tier (a fact counts as its provenance's turns)")
    a = ap.parse_args()
    data = json.load(open(a.file))
    memd = Memd(a.socket)
    if not a.skip_import:
        t0 = time.time()
        n = sum(import_conversation(memd, conv) for conv in data)
        st = wait_embedded(memd)
        print(f"imported {n} turns of {len(data)} conversations; embedded with "
              f'{st["embedder"]["model"]} in {time.time() - t0:.1f}s', file=sys.stderr)
    overrides = {k: v for k, v in {"rrf_k": a.rrf_k, "fts_weight": a.fts_weight,
                                   "vector_weight": a.vector_weight, "candidates": a.candidates,
                                   "neighbor_weight": a.neighbor_weight, "entity_boost": a.entity_boost,
                                   "max_term_df": a.max_term_df,
                                   "max_terms": a.max_terms}.items()
                 if v is not None}
    dream = None
    if a.dream:
        dream = run_dream(memd, data)
        print(f"dream: {sum(v['gists'] for k, v in dream.items() if k != 'wall_s')} gists, "
              f"{dream['wall_s']:.1f}s wall", file=sys.stderr)
    if a.context:
        ctx = {}
        for b in [int(x) for x in a.context.split(",")]:
            for label, without in (("with dream", False), ("without dream", True)):
                ctx[f"{b} {label}"] = containment(memd, data, b, without)
        if a.json:
            print(json.dumps({"file": a.file, "dream": dream, "context": ctx}))
            return
        cols = ["overall", "multi-hop", "temporal", "open-domain", "single-hop"]
        print(f"{'context pack':24} " + " ".join(f"{c:>12}" for c in cols))
        for label, t in ctx.items():
            print(f"{label:24} " + " ".join(f"{t.get(c, {}).get('containment', 0):12.3f}" for c in cols))
        print(f"questions: {ctx[next(iter(ctx))]['overall']['n']}")
        if not a.mode:
            return
    results = {}
    for mode in a.mode or ["hybrid", "lexical", "vector"]:
        results[mode] = evaluate(memd, data, mode, overrides)
        if a.with_facts:
            results[mode + "+facts"] = evaluate(memd, data, mode, overrides, with_facts=True)
    if a.json:
        print(json.dumps({"file": a.file, "overrides": overrides, "results": results, "dream": dream}))
        return
    cols = ["overall", "multi-hop", "temporal", "open-domain", "single-hop"]
    print(f"{'mode':14} {'R@5':>6} {'R@10':>6} {'hit@10':>7}  " + " ".join(f"{'R@10 ' + c:>18}" for c in cols[1:])
          + "   p50 ms  p95 ms")
    for mode, t in results.items():
        o = t["overall"]
        cats = " ".join(f'{t.get(c, {}).get("recall@10", 0):>18.3f}' for c in cols[1:])
        print(f"{mode:14} {o['recall@5']:6.3f} {o['recall@10']:6.3f} {o['hit@10']:7.3f}  {cats}"
              f"   {t['latency_ms']['p50']:6.1f}  {t['latency_ms']['p95']:6.1f}")
    print(f"queries: {results[next(iter(results))]['overall']['n']}")
    for mode, t in results.items():
        if "fact_hits_per_query" in t:
            print(f"{mode}: {t['fact_hits_per_query']:.2f} fact hits in the top 10 per query")


if __name__ == "__main__":
    main()
