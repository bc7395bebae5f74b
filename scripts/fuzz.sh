#!/usr/bin/env bash
# Fuzzing (issue 17): runs each cargo-fuzz target in fuzz/ for a bounded
# time and prints, per target, the executions, the seconds and the failures
# found. A benchmark-style script, not part of CI (CI only replays the
# inputs kept in tests/fixtures/fuzz/ through tests/fuzz_regressions.rs).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: config fts_query import_line ids route_bodies (default: all, one
# after the other). FUZZ_FORK=N runs N fuzzing processes per target
# (libFuzzer -fork, which keeps going after a failure, restarting the
# process); unset, one process stops at its first failure. A failing input is written to
# fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a <target> <file>
# and, once fixed, copy it to tests/fixtures/fuzz/<target>/.
#
# Only the stable toolchain is assumed: cargo-fuzz passes nightly-only
# flags, which RUSTC_BOOTSTRAP=1 lets stable rustc accept. No sanitizer
# (memd is safe Rust over SQLite; -s none runs several times faster), but
# debug assertions and overflow checks are on (-a).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-120}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(config fts_query import_line ids route_bodies)
fi
fork=${FUZZ_FORK:-0}
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 1
fi

flags=(-s none -a)
cargo fuzz build "${flags[@]}" || exit 1

dict_of() {
    case "$1" in
        config) echo fuzz/dict/config.dict ;;
        fts_query) echo fuzz/dict/fts.dict ;;
        ids) echo fuzz/dict/ids.dict ;;
        *) echo fuzz/dict/json.dict ;;
    esac
}

summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t.log"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    args=(-max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 -max_len=65536
        -dict="$(dict_of "$t")" -print_final_stats=1)
    if [ "$fork" -gt 0 ]; then
        args+=(-fork="$fork" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    echo "=== $t: ${secs}s" >&2
    start=$(date +%s)
    cargo fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- "${args[@]}" \
        </dev/null >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    # One process: its final stats. Fork mode: the last status line.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    if [ "$execs" = 0 ]; then
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    found=$(($(find "fuzz/artifacts/$t" -type f | wc -l) - before))
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    summary+=("$(printf '%-13s %12s execs %6ss %4s new failures  corpus %6s  exit %s' \
        "$t" "${execs:-?}" "$took" "$found" "$corpus" "$rc")")
    if [ "$found" -gt 0 ]; then
        grep -m3 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" >&2 || true
    fi
done

echo
echo "target        executions        time  failures        corpus"
printf '%s\n' "${summary[@]}"
echo "logs and failing inputs: fuzz/artifacts/"
