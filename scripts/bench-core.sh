#!/usr/bin/env bash
# Foundation benchmark: starts a release daemon on a temp data dir, imports
# N synthetic exchanges over the socket, runs Q recalls, prints import rate,
# recall p50/p95/p99 and the daemon's peak RSS.
#
#   scripts/bench-core.sh [EXCHANGES] [QUERIES] [-- extra `memd-bench core` flags]
#   EMBED=local MODEL_DIR=target/models/all-MiniLM-L6-v2 scripts/bench-core.sh
# (EMBED: the embed.provider to run with; default hash.)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
Q=${2:-1000}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift

cargo build --release --locked --quiet
BIN=target/release/memd
TMP=$(mktemp -d /tmp/memd-bench.XXXXXX)
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
TOML
"$BIN" daemon --config "$TMP/memd.toml" 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 1 300); do [ -S "$TMP/memd.sock" ] && break; sleep 0.1; done
target/release/memd-bench core --socket "$TMP/memd.sock" --exchanges "$N" --queries "$Q" --checkpoint "$@"
echo "database: $(du -h "$TMP/data/memd.db" | cut -f1) (+ WAL $(du -h "$TMP/data/memd.db-wal" 2>/dev/null | cut -f1))"
