#!/usr/bin/env bash
# The one install step of the Makefile (`make lab`, `make tour`, `make docs`, ...) and of .ci/run.
#
#   bash .ci/install.sh EXTRAS           install CPU torch + srwidgets[EXTRAS] into .venv unless the stamp says it is there
#   bash .ci/install.sh --check EXTRAS   exit 0 when the stamp already covers EXTRAS, 1 when an install is needed
#   bash .ci/install.sh --stamp EXTRAS   print the stamp an install of EXTRAS would write (nothing is installed)
#
# EXTRAS is a comma-separated list of srwidgets extras (dev,ray,docs). The stamp (.venv/.installed) records what was
# installed: the torch pin, the extras, and a hash of pyproject.toml. An install is needed when the stamp is missing,
# names another torch pin or another pyproject.toml, or lacks one of the requested extras; it then installs the union
# of the requested extras and those already recorded, so any order of `make tour`, `bash .ci/run`, `make docs` ends
# with every extra the last command needs. STAMP, PYPROJECT and VENV may be set (the tests point them at tmp files).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_PIN="torch==2.13.0"   # CPU torch first: a bare `torch` requirement pulls a multi-GB CUDA build
PY="${PY:-python3}"
VENV="${VENV:-.venv}"
STAMP="${STAMP:-$VENV/.installed}"
PYPROJECT="${PYPROJECT:-pyproject.toml}"

mode=install
case "${1:-}" in
    --check) mode=check; shift ;;
    --stamp) mode=stamp; shift ;;
esac
want="${1:-dev}"

# "ray, dev,,dev" -> "dev,ray": sorted, unique, no blanks
normalise() { tr ', ' '\n\n' <<<"$1" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -; }

stamp_field() { [ -f "$STAMP" ] && sed -n "s/^$1=//p" "$STAMP" | head -n 1 || true; }

pyproject_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$PYPROJECT" | cut -d' ' -f1
    else
        "$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$PYPROJECT"
    fi
}

want="$(normalise "$want")"
have="$(normalise "$(stamp_field extras)")"
hash="$(pyproject_hash)"

# the stamp covers the request when torch pin and pyproject hash match and every wanted extra is recorded
covered() {
    [ -f "$STAMP" ] || return 1
    [ "$(stamp_field torch)" = "$TORCH_PIN" ] || return 1
    [ "$(stamp_field pyproject-sha256)" = "$hash" ] || return 1
    local extra
    for extra in ${want//,/ }; do
        [[ ",$have," == *",$extra,"* ]] || return 1
    done
}

extras="$(normalise "$want,$have")"
stamp_text() { printf 'torch=%s\nextras=%s\npyproject-sha256=%s\n' "$TORCH_PIN" "$extras" "$hash"; }

case "$mode" in
    check) covered; exit ;;
    stamp) stamp_text; exit 0 ;;
esac

if covered && [ -x "$VENV/bin/python" ]; then
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
echo "install: $TORCH_PIN, then srwidgets[$extras] into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$TORCH_PIN"
"$VENV/bin/python" -m pip install -q -e ".[$extras]"
stamp_text >"$STAMP"
