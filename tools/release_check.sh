#!/usr/bin/env bash
# Release check: build every package's wheel with `hatch build`, then install the core wheel into an
# empty venv and run the `xgeo` command from it. Takes a few minutes (torch is installed from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
for pkg in packages/*/; do
    (cd "$pkg" && hatch build -t wheel "$out" >/dev/null)
done
ls "$out"
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --quiet torch==2.14.1 torchvision==0.29.1
"$out/venv/bin/pip" install --quiet "$out"/xgeo_core-*.whl
"$out/venv/bin/xgeo" --version
"$out/venv/bin/xgeo" info
rm -rf "$out"
