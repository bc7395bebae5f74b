#!/usr/bin/env bash
# Vector-index benchmark on a data set of shared/bench/gen.py, measured the
# way shared/bench/peers.py measures the peer vector stores, appending to the
# same results file so one table shows memd beside them.
#
#   scripts/bench-vectors.sh DIR [extra `memd-bench vectors` flags]
#
# e.g. (from the repository root, with shared/ beside it):
#   B=../shared/bench; PY=${BENCH_VENV:-$HOME/.cache/memd-bench-venv}/bin/python
#   bash $B/setup.sh && $PY $B/gen.py --n 100000 --out /tmp/memd-bench/c100k
#   $PY $B/peers.py /tmp/memd-bench/c100k                # the peers
#   scripts/bench-vectors.sh /tmp/memd-bench/c100k --e2e # memd, in process and over the socket
#   $PY $B/peers.py /tmp/memd-bench/c100k --table-only   # one table
#
# In process: the start-up rebuild (bulk insert + k-means) timed as "build",
# the layout saved and reloaded, then k=10 queries one at a time on one
# thread per --nprobe value. With --e2e: a release daemon on a temporary
# data dir, the vectors imported as exchanges (client-supplied embeddings),
# /v1/recall timed in vector and hybrid mode, then a restart from the saved
# layout with a check that every query's top 10 is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 DIR [memd-bench vectors flags]" >&2; exit 2; }
DIR=$1; shift
cargo build --release --locked --quiet
exec target/release/memd-bench vectors "$DIR" "$@"
