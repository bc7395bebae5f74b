#!/usr/bin/env bash
# Facts benchmark: starts a release daemon on a temp data dir with the local
# model and the extractive dream provider (dream triggers off, so only the
# forced passes run), then runs the three facts evaluations and prints one
# summary:
#   - extraction against LoCoMo's observations (facts_score.py), with the
#     dream pass's turns per second;
#   - knowledge updates (score_ku.py): recall over facts and over turns;
#   - LoCoMo recall R@5/R@10/hit@10, hybrid, without and with the fact tier.
#
#   scripts/bench-facts.sh
#   MEMD_MODEL_DIR=target/models/all-MiniLM-L6-v2 PROVIDER=openai \
#     OPENAI_BASE_URL=http://127.0.0.1:8088/v1 OPENAI_MODEL=qwen2.5-coder-1.5b-instruct scripts/bench-facts.sh
# Data and scorers (defaults under ../shared): LOCOMO, KU, FACTS_SCORER,
# KU_SCORER; the scorers' interpreter: BENCH_VENV (default
# ~/.cache/memd-bench-venv). PROFILE=debug runs target/debug/memd instead
# (checking the plumbing, not timing it). KEEP=1 keeps the temp dir (the
# facts, answers and reports).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
LOCOMO=${LOCOMO:-$SHARED/data/locomo/locomo-dev.json}
KU=${KU:-$SHARED/data/knowledge-updates/dev.json}
FACTS_SCORER=${FACTS_SCORER:-$SHARED/eval/facts_score.py}
KU_SCORER=${KU_SCORER:-$SHARED/data/knowledge-updates/score_ku.py}
export MEMD_MODEL_DIR=${MEMD_MODEL_DIR:-$PWD/target/models/all-MiniLM-L6-v2}
PROVIDER=${PROVIDER:-extractive}

if [ "${PROFILE:-release}" = debug ]; then
  cargo build --locked --quiet
  BIN=target/debug/memd
else
  cargo build --release --locked --quiet
  BIN=target/release/memd
fi
TMP=$(mktemp -d /tmp/memd-bench-facts.XXXXXX)
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
cat > "$TMP/memd.toml" <<TOML
[daemon]
data_dir = "$TMP/data"
socket = "$TMP/memd.sock"
[log]
level = "warn"
[embed]
provider = "local"
model_dir = "$MEMD_MODEL_DIR"
[dream]
enabled = false
provider = "$PROVIDER"
max_pass_s = 3600
max_sessions_per_pass = 1000
[dream.openai]
base_url = "${OPENAI_BASE_URL:-http://127.0.0.1:8088/v1}"
model = "${OPENAI_MODEL:-qwen2.5-coder-1.5b-instruct}"
TOML
"$BIN" daemon --config "$TMP/memd.toml" 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 1 300); do [ -S "$TMP/memd.sock" ] && break; sleep 0.1; done
S=$TMP/memd.sock

scripts/facts_eval.py locomo --socket "$S" "$LOCOMO" --scorer "$FACTS_SCORER" \
  --out "$TMP/facts.jsonl" --json > "$TMP/locomo-facts.json"
scripts/facts_eval.py ku --socket "$S" "$KU" --scorer "$KU_SCORER" \
  --out-dir "$TMP/ku" --json > "$TMP/ku.json"
# The LoCoMo namespaces are imported and dreamt over by the first step.
scripts/locomo_eval.py --socket "$S" "$LOCOMO" --skip-import --mode hybrid --with-facts \
  --json > "$TMP/locomo-recall.json"

echo "== memd facts ($BIN, dream provider $PROVIDER, model $MEMD_MODEL_DIR)"
scripts/facts_eval.py summary "$TMP/locomo-facts.json" "$TMP/ku.json" "$TMP/locomo-recall.json"
[ -z "${KEEP:-}" ] || echo "kept $TMP"
