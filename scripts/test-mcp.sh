#!/usr/bin/env bash
# `memd mcp` under the official MCP Python SDK's client (tests/mcp/), over
# stdio and over Streamable HTTP (`--http` on 127.0.0.1 with a token): a
# venv in target/mcp-venv with `mcp` and pytest, a real daemon on a temp
# config (hash embedder, temp data dir and socket), then pytest.
# scripts/test.sh runs it after the cargo tests; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/mcp-venv
if ! "$venv/bin/python" -c 'import mcp, pytest' >/dev/null 2>&1; then
    echo "scripts/test-mcp.sh: installing mcp and pytest into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'mcp>=2.3,<3' 'pytest>=8'
fi

cargo build --locked --bin memd
bin=$PWD/target/debug/memd

tmp=$(mktemp -d /tmp/memd-mcp.XXXXXX)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/memd.toml" <<EOF
[daemon]
data_dir = "$tmp/data"
socket = "$tmp/run/memd.sock"

[embed]
provider = "hash"

[dream]
enabled = false
EOF

env -u NOTIFY_SOCKET -u WATCHDOG_USEC "$bin" daemon --config "$tmp/memd.toml" \
    </dev/null >/dev/null 2>"$tmp/daemon.log" &
daemon_pid=$!

for _ in $(seq 300); do
    [ -S "$tmp/run/memd.sock" ] && break
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "scripts/test-mcp.sh: the daemon exited during start-up:" >&2
        cat "$tmp/daemon.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -S "$tmp/run/memd.sock" ] || { echo "scripts/test-mcp.sh: no socket after 30 s" >&2; cat "$tmp/daemon.log" >&2; exit 1; }

status=0
MEMD_BIN=$bin MEMD_SOCKET=$tmp/run/memd.sock \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/mcp "$@" || status=$?
if [ "$status" != 0 ]; then
    echo "--- daemon log ---" >&2
    tail -50 "$tmp/daemon.log" >&2
fi
exit "$status"
