#!/usr/bin/env bash
# Fault scenarios against a real memd: disk full, read-only data dir, socket
# file deleted, kill -9 during a checkpoint and during a large import, slow
# loris. Each starts its own daemon on a temp dir (hash embedder), prints
# what happened and what was lost (every acknowledged write is checked), and
# a line `VERDICT <name>: PASS|FAIL|SKIP`. Exits 1 if any scenario FAILed.
#
#   scripts/faults.sh [BINARY] [SCENARIO...]     # default target/release/memd, all scenarios
#   scenarios: disk_full read_only socket_deleted kill9_checkpoint kill9_import slow_loris
#
# The tmpfs scenarios need root (mount); without it they are skipped. Uses
# python3 (standard library only); nothing is built here.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/../target/release/memd}
[ $# -gt 0 ] && shift
if [ ! -x "$BIN" ]; then
    echo "faults.sh: no memd binary at $BIN (cargo build --release first)" >&2
    exit 2
fi
exec python3 "$HERE/faults.py" "$BIN" "$@"
