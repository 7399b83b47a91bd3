#!/usr/bin/env bash
# Builds .venv-spandrel, the second environment the spandrel tests run in (tests/test_models_spandrel.py, driven by
# tests/test_models_spandrel_env.py from the main suite). spandrel imports torchvision, and the published torchvision
# wheel cannot load beside the main environment's CPU torch 2.13.0 ("operator torchvision::nms does not exist"), so the
# real spandrel gets its own environment with a matching torch / torchvision pair; .venv is never touched.
#
# Idempotent: the stamp (.venv-spandrel/.installed) records what was installed (the torch pair, the packages and
# pyproject.toml's hash); a re-run with the same record returns at once. First build: about 2-3 minutes (torch and
# torchvision come from this machine's disk; the environment is about 5.5 GB). Never add spandrel_extra_arches here
# (non-commercial licences).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
VENV="${SPANDREL_VENV:-.venv-spandrel}"
STAMP="$VENV/.installed"
TORCH="torch==2.14.1 torchvision==0.29.1"
# srwidgets with its spandrel extra (editable: the tests import this checkout) and the test runner only: no
# jupyterlab / playwright / nbval, the notebooks and the browser tests run in .venv.
PACKAGES=(-e ".[spandrel]" "pytest>=7")

pyproject_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum pyproject.toml | cut -d' ' -f1
    else
        "$PY" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())'
    fi
}
want="$(printf 'torch=%s\npackages=%s\npyproject-sha256=%s' "$TORCH" "${PACKAGES[*]}" "$(pyproject_hash)")"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(head -n 3 "$STAMP")" = "$want" ]; then
    exit 0
fi
start=$(date +%s)
echo "spandrel environment: $TORCH, then ${PACKAGES[*]} into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# the torch pair first and pinned, so that nothing later resolves another build
"$VENV/bin/python" -m pip install -q $TORCH
"$VENV/bin/python" -m pip install -q "${PACKAGES[@]}"
{
    echo "$want"
    echo "# built in $(( $(date +%s) - start )) s on $(date -u +%Y-%m-%dT%H:%M:%SZ):"
    "$VENV/bin/python" -m pip freeze --exclude-editable | grep -i -E '^(torch|torchvision|spandrel|numpy)==' || true
} >"$STAMP"
