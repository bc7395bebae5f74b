#!/usr/bin/env bash
# Dream-cycle benchmark: starts a release daemon on a temp data dir (dream
# triggers off, so only the measured pass runs), gives it N synthetic
# sessions of T turns, then times a forced pass until caught up and reports
# recall p50/p95 idle and while the pass runs, and the daemon's peak RSS.
#
#   scripts/bench-dream.sh [SESSIONS] [TURNS] [-- extra `memd-bench dream` flags]
#   EMBED=local MODEL_DIR=target/models/all-MiniLM-L6-v2 scripts/bench-dream.sh 1000
# (EMBED: the embed.provider to run with; default hash. EXTRACT=false turns
# fact extraction off, for the pass without it.)
#
# Gist quality on LoCoMo (in process, no daemon):
#   target/release/memd-bench gists ../shared/data/locomo/locomo-dev.json --model-dir DIR
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
T=${2:-10}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift

cargo build --release --locked --quiet
BIN=target/release/memd
TMP=$(mktemp -d /tmp/memd-bench-dream.XXXXXX)
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
cat > "$TMP/memd.toml" <<TOML
[daemon]
data_dir = "$TMP/data"
socket = "$TMP/memd.sock"
[log]
level = "warn"
[embed]
provider = "${EMBED:-hash}"
${MODEL_DIR:+model_dir = \"$MODEL_DIR\"}
[dream]
enabled = false
max_pass_s = 3600
max_sessions_per_pass = 1000
[learn]
extract = ${EXTRACT:-true}
TOML
"$BIN" daemon --config "$TMP/memd.toml" 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 1 300); do [ -S "$TMP/memd.sock" ] && break; sleep 0.1; done
target/release/memd-bench dream --socket "$TMP/memd.sock" --sessions "$N" --turns "$T" "$@"
