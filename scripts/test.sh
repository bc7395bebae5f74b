#!/usr/bin/env bash
# Runs the whole test suite, exactly as CI does (.ci/run calls this script).
# Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd-analyze verifies the unit files (tests/lifecycle.rs).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: installing systemd for systemd-analyze" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null) \
            || echo "scripts/test.sh: could not install systemd; the unit check will report SKIPPED" >&2
    else
        echo "scripts/test.sh: systemd-analyze not found; the unit check will report SKIPPED" >&2
    fi
fi

# PostgreSQL server binaries (tests/sources.rs runs its own initdb/pg_ctl
# in a temp dir; it looks in PATH and /usr/lib/postgresql/*/bin).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: installing PostgreSQL for the sources tests" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "scripts/test.sh: PostgreSQL (initdb) not found; the PostgreSQL source test will fail under CI" >&2
    fi
fi

# Chromium for the inspector's browser test (scripts/test-ui.sh).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: installing chromium for the inspector's browser test" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "scripts/test.sh: /usr/bin/chromium not found; the inspector's browser test will fail" >&2
    fi
fi

# The local embedding model (checked by sha256; a no-op once present).
# Tests find it in target/models; MEMD_MODEL_DIR overrides.
export MEMD_MODEL_DIR=${MEMD_MODEL_DIR:-$PWD/target/models/all-MiniLM-L6-v2}
scripts/fetch-model.sh "$MEMD_MODEL_DIR"

cargo test --locked --all-targets "$@"

# The Python client against the daemon just built (target/debug/memd).
scripts/test-python.sh
# memd mcp driven by the official MCP Python SDK's client.
scripts/test-mcp.sh
# The inspector in headless Chromium through Playwright.
scripts/test-ui.sh
