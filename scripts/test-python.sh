#!/usr/bin/env bash
# The Python client (clients/python): builds its wheel, installs it with
# pytest, pytest-asyncio, mypy and httpx from PyPI into a fresh venv under
# target/, type-checks the installed package with `mypy --strict` and runs
# its tests against real daemons (target/debug/memd, or $MEMD_BIN).
# scripts/test.sh runs it after the cargo tests; it fails when they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

PYTHON=${PYTHON:-python3}
VENV=target/pyclient-venv
DIST=target/pyclient-dist

if [ -z "${MEMD_BIN:-}" ]; then
    # A no-op right after `cargo test`; builds the daemon when run alone.
    cargo build --locked --quiet --bin memd
    export MEMD_BIN=$PWD/target/debug/memd
fi

rm -rf "$VENV" "$DIST"
if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test-python.sh: installing python3-venv" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    else
        echo "scripts/test-python.sh: '$PYTHON -m venv' failed; install python3-venv" >&2
        exit 1
    fi
fi
PY=$VENV/bin/python
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$DIST" clients/python
"$PY" -m pip install --quiet --disable-pip-version-check "$DIST"/memd_client-*.whl \
    pytest pytest-asyncio mypy httpx

# The installed wheel, not the source tree, is what gets checked and tested.
(cd "$DIST" && "../../$VENV/bin/mypy" --strict --cache-dir=/dev/null -p memd)
(cd clients/python/tests && MYPYPATH=. "../../../$VENV/bin/mypy" --strict --cache-dir=/dev/null .)
"$PY" -m pytest -q -p no:cacheprovider --rootdir clients/python \
    -c clients/python/pyproject.toml clients/python/tests "$@"

echo "scripts/test-python.sh: done in $((SECONDS - started)) s"
