#!/usr/bin/env bash
# Load driver: starts a release daemon on a temp dir (hash embedder) and runs
# one round per client count, each mixing writes, recalls, small NDJSON
# imports and session deletes over the Unix socket for SECONDS; then checks
# every acknowledged write is present (and deleted sessions gone) and prints
# per-operation count, errors, p50/p99 latency and the daemon's RSS (start,
# end, after 30 s idle). Exits 1 on lost data, 500s or failed health probes.
#
#   scripts/load.sh [BINARY] [SECONDS=60] [CLIENTS...=16 64] [--idle-conns 256] [--procs 4] [--mix write=55,recall=30,import=12,delete=3]
#
# --idle-conns N holds N idle connections for the whole run and probes
# /v1/health every 0.5 s (its p50/p99 are printed). python3, standard library only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/../target/release/memd
if [ $# -gt 0 ] && [[ "$1" != -* ]] && ! [[ "$1" =~ ^[0-9.]+$ ]]; then BIN=$1; shift; fi
if [ ! -x "$BIN" ]; then
    echo "load.sh: no memd binary at $BIN (cargo build --release first)" >&2
    exit 2
fi
exec python3 "$HERE/load.py" "$BIN" "$@"
