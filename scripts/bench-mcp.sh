#!/usr/bin/env bash
# MCP overhead benchmark: recall p50/p95 at EXCHANGES exchanges through the
# raw socket, the Python client, and `memd mcp` over stdio and Streamable
# HTTP (the official MCP SDK's client), side by side in one run
# (scripts/bench-mcp.py says how). Builds release, starts a daemon on a
# temp dir, prints a table.
#
#   scripts/bench-mcp.sh [EXCHANGES] [QUERIES]        (default 10000 500)
#   EMBED=hash scripts/bench-mcp.sh                   (embed.provider)
# EMBED defaults to local when the model is in MODEL_DIR (default
# target/models/all-MiniLM-L6-v2, scripts/fetch-model.sh), else hash.
# The venv (mcp, the Python client) lives in target/bench-mcp-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
Q=${2:-500}
MODEL_DIR=${MODEL_DIR:-$PWD/target/models/all-MiniLM-L6-v2}
if [ -z "${EMBED:-}" ]; then
    if [ -f "$MODEL_DIR/model.safetensors" ]; then EMBED=local; else EMBED=hash; fi
fi

venv=target/bench-mcp-venv
if ! "$venv/bin/python" -c 'import mcp, httpx2, httpx' >/dev/null 2>&1; then
    echo "scripts/bench-mcp.sh: installing mcp and the Python client into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'mcp>=2.3,<3' ./clients/python
fi
# The client as it is in this tree, every run.
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./clients/python

cargo build --release --locked --quiet --bin memd
BIN=$PWD/target/release/memd
TMP=$(mktemp -d /tmp/memd-bench-mcp.XXXXXX)
PID=
trap '[ -n "$PID" ] && { kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; }; rm -rf "$TMP"' EXIT
cat > "$TMP/memd.toml" <<TOML
[daemon]
data_dir = "$TMP/data"
socket = "$TMP/memd.sock"
[log]
level = "warn"
[embed]
provider = "$EMBED"
$([ "$EMBED" = local ] && echo "model_dir = \"$MODEL_DIR\"")
[dream]
enabled = false
TOML
env -u NOTIFY_SOCKET -u WATCHDOG_USEC "$BIN" daemon --config "$TMP/memd.toml" </dev/null 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 1 300); do [ -S "$TMP/memd.sock" ] && break; sleep 0.1; done
[ -S "$TMP/memd.sock" ] || { echo "scripts/bench-mcp.sh: no socket after 30 s" >&2; cat "$TMP/daemon.log" >&2; exit 1; }
echo "embed.provider = $EMBED; $(nproc) cores; $(uname -sr)"
"$venv/bin/python" scripts/bench-mcp.py --bin "$BIN" --socket "$TMP/memd.sock" --exchanges "$N" --queries "$Q"
