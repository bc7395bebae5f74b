#!/usr/bin/env bash
# The inspector in a real browser (tests/ui/): Playwright for Python in a
# venv in target/ui-venv, driving the system Chromium (Debian's `chromium`,
# which scripts/test.sh installs) headless against a daemon loaded with a
# LoCoMo conversation. scripts/test.sh runs it after the cargo tests; extra
# arguments go to pytest.
#
#   MEMD_LOCOMO=path   the LoCoMo dev set (default ../shared/data/locomo/locomo-dev.json)
#   MEMD_CHROMIUM=path the browser (default /usr/bin/chromium)
#   MEMD_UI_SCREENSHOTS=dir  also save screenshots of the main pages there
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${MEMD_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "scripts/test-ui.sh: no browser at $chromium (apt-get install chromium, or set MEMD_CHROMIUM)" >&2
    exit 1
fi

venv=target/ui-venv
if ! "$venv/bin/python" -c 'import playwright, pytest' >/dev/null 2>&1; then
    echo "scripts/test-ui.sh: installing playwright and pytest into $venv" >&2
    python3 -m venv "$venv"
    # Only the Python package (its driver ships in the wheel); no browser
    # download: the system Chromium is used.
    "$venv/bin/pip" install -q --disable-pip-version-check 'playwright>=1.40,<2' 'pytest>=8'
fi

cargo build --locked --bin memd
MEMD_BIN=$PWD/target/debug/memd MEMD_CHROMIUM=$chromium \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/ui "$@"
