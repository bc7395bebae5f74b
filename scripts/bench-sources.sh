#!/usr/bin/env bash
# Sources benchmark: full-sync rows/s of 100,000 rows from a SQLite file and
# from PostgreSQL, with the hash and the local embedder, and the time from a
# change in the source to recallable (p50/p95).
#
#   scripts/bench-sources.sh [extra `memd-bench sources` flags, e.g. --rows 20000]
#
# Starts a throw-away PostgreSQL (initdb/pg_ctl from PATH or
# /usr/lib/postgresql/*/bin, run as `postgres` when we are root) on a free
# loopback port in a temp dir, and removes it afterwards. The local model
# comes from scripts/fetch-model.sh (into target/models).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
MODEL=${MEMD_MODEL_DIR:-$PWD/target/models/all-MiniLM-L6-v2}
scripts/fetch-model.sh "$MODEL" >/dev/null

BIN=""
for d in $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)") $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then BIN=$(dirname "$(readlink -f "$d/initdb")"); break; fi
done
[ -n "$BIN" ] || { echo "no initdb found; install postgresql" >&2; exit 1; }

PGDIR=$(mktemp -d /tmp/memd-bench-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench > "$PGDIR/pw"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PGDIR"
as_pg "$BIN/initdb" -D "$PGDIR/data" -U memd --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$PGDIR/pw" -E UTF8 --no-sync >/dev/null
as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$PGDIR" start >/dev/null
export MEMD_BENCH_PG_PASSWORD=bench
URL="postgres://memd@127.0.0.1:$PORT/postgres"

for EMBED in hash local; do
    target/release/memd-bench sources --embed "$EMBED" --model-dir "$MODEL" \
        --pg-url "$URL" --pg-password-env MEMD_BENCH_PG_PASSWORD "$@"
done
# SQLite changes read by a cursor column instead of fingerprints.
target/release/memd-bench sources --embed hash --sqlite-cursor "$@"
