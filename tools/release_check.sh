#!/usr/bin/env bash
# Release check: build every package's wheel with `hatch build`; in an empty venv install the core
# wheel and run `xgeo`; then, one method at a time, install that method's wheel beside core, run
# each of its console scripts' --help and core's contract test (tests/test_methods.py), and
# uninstall it again. Takes several minutes (torch is installed from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for pkg in packages/*/; do
    (cd "$pkg" && hatch build -t wheel "$out" >/dev/null)
done
ls "$out"
python3 -m venv "$out/venv"
bin="$out/venv/bin"
"$bin/pip" install --quiet torch==2.14.1 torchvision==0.29.1 pytest
"$bin/pip" install --quiet "$out"/xgeo_core-*.whl
"$bin/xgeo" --version
"$bin/xgeo" info
for wheel in "$out"/xgeo_*.whl; do
    dist=$(basename "$wheel" | cut -d- -f1)
    [ "$dist" = xgeo_core ] && continue
    echo "== $dist"
    "$bin/pip" install --quiet --no-deps "$wheel"
    scripts=$(unzip -p "$wheel" '*.dist-info/entry_points.txt' | awk '/^\[/{s=($0=="[console_scripts]")} s && /=/{print $1}')
    for script in $scripts; do
        "$bin/$script" --help >/dev/null && echo "$script --help: ok"
    done
    "$bin/python" -m pytest -q -p no:cacheprovider tests/test_methods.py
    "$bin/pip" uninstall --quiet --yes "${dist//_/-}"
done
