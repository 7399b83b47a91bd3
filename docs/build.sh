#!/usr/bin/env bash
# Build the docs site into docs/_build/html: warnings are errors (-W, --keep-going lists them all), every
# cross-reference must resolve (nitpicky, docs/conf.py), then every relative href/src of the built pages must exist
# (docs/check_links.py; Sphinx's linkcheck would reach the internet). The notebooks are rendered from their stored
# outputs, never executed. Run by `make docs` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
start=$(date +%s)
"$PYTHON" -m sphinx -b html -W --keep-going -q docs docs/_build/html
"$PYTHON" docs/check_links.py docs/_build/html
echo "docs: built docs/_build/html/index.html in $(( $(date +%s) - start )) s"
