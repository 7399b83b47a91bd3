#!/usr/bin/env bash
# Builds .venv-spandrel, the second environment the spandrel tests run in (tests/test_models_spandrel.py and
# tests/test_hostile_23.py, driven by tests/test_models_spandrel_env.py from the main suite). spandrel imports
# torchvision, and the published torchvision wheel cannot load beside the main environment's CPU torch 2.13.0
# ("operator torchvision::nms does not exist"), so the real spandrel gets an environment with a matching torch /
# torchvision pair; .venv is never touched.
#
# The environment is an overlay, to keep it small (disk on a CI runner is not guaranteed; the first layout, a full
# copy of everything, took 5.9 GB and once ran a runner out of space):
#   - its own site-packages hold only what differs from .venv: torch 2.14.1, torchvision 0.29.1, the CUDA runtime
#     libraries torch's binaries link against (they must be present for `import torch`, even on a CPU), spandrel
#     and spandrel's own small dependencies;
#   - a .pth file then appends .venv's site-packages, so numpy, pytest, scikit-learn, srwidgets (editable) ... come
#     from .venv, and its own torch shadows .venv's;
#   - pip resolves the whole set (a dry run with a report); what it would install is installed with --no-deps,
#     less triton and cuda-bindings / cuda-pathfinder: a GPU kernel compiler and driver bindings that only
#     torch.compile and CUDA devices load, never `import torch` on a CPU (about 0.9 GB saved).
# About 4.4 GB. Before building, the free space is checked where the environment goes and in the temporary folder:
# with less than SPANDREL_ENV_NEED_MB (default 5600 MB) free, nothing is built, the reason is printed and written to
# .venv-spandrel.not-built, and the slow test that needs the environment skips with that reason (it fails when the
# environment is missing or unfinished with no such record). A build that fails part-way leaves nothing behind.
#
# Idempotent: the stamp (.venv-spandrel/.installed) records what was asked for (the torch pair, the spandrel
# requirement, .venv's site-packages and a hash of .venv's installed packages, which the overlay imports); a re-run
# with the same record returns at once, and any other record rebuilds from scratch. SPANDREL_VENV may name another
# folder: it is only ever deleted when it is empty or a build of this script. First build: about a minute
# (everything comes from this machine's disk). Never add spandrel_extra_arches here (non-commercial licences).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SPANDREL_VENV:-.venv-spandrel}"
MAIN="${MAIN_VENV:-.venv}"
STAMP="$VENV/.installed"
NOT_BUILT="$VENV.not-built"
TORCH=(torch==2.14.1 torchvision==0.29.1)
DROP="triton cuda-bindings cuda-pathfinder"
NEED_MB="${SPANDREL_ENV_NEED_MB:-5600}"

MAIN_PY="$MAIN/bin/python"
if [ ! -x "$MAIN_PY" ]; then
    echo "spandrel environment: $MAIN_PY is missing; run bash .ci/install.sh first" >&2
    exit 1
fi
MAIN_SITE="$("$MAIN_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
parent="$(dirname "$VENV")"
mkdir -p "$parent"
# the spandrel requirement: the `spandrel` extra of the srwidgets installed in .venv (from pyproject.toml)
"$MAIN_PY" - >"$VENV.requirement" <<'PY'
import importlib.metadata as metadata
reqs = [r.split(";")[0].strip() for r in metadata.requires("srwidgets") or []
        if r.replace(" ", "").replace("'", '"').endswith('extra=="spandrel"')]
if not reqs:
    raise SystemExit("spandrel environment: the srwidgets in .venv has no `spandrel` extra; run bash .ci/install.sh")
print("\n".join(reqs))
PY
mapfile -t SPANDREL_REQ <"$VENV.requirement"
rm -f "$VENV.requirement"
# .venv's packages are part of the overlay: a change there rebuilds it
"$MAIN_PY" -m pip freeze --exclude-editable >"$VENV.freeze"
MAIN_HASH="$("$MAIN_PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$VENV.freeze")"
rm -f "$VENV.freeze"
want="$(printf 'torch=%s\nspandrel=%s\nmain-site=%s\nmain-packages-sha256=%s\ndropped=%s' "${TORCH[*]}" \
    "${SPANDREL_REQ[*]}" "$MAIN_SITE" "$MAIN_HASH" "$DROP")"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ ! -e "$VENV/.building" ] && [ "$(head -n 5 "$STAMP")" = "$want" ]; then
    exit 0
fi
start=$(date +%s)
# another record, or an unfinished build: start from nothing, but never delete a folder this script did not make
if [ -e "$VENV" ]; then
    if [ -n "$(ls -A "$VENV" 2>/dev/null)" ] && [ ! -f "$STAMP" ] && [ ! -e "$VENV/.building" ]; then
        echo "spandrel environment: $VENV exists and is not a build of this script (no .installed or .building in" \
             "it); move it away, or set SPANDREL_VENV to another folder" >&2
        exit 1
    fi
    rm -rf "$VENV"
fi
rm -f "$NOT_BUILT"
free_mb() { df -Pm "$1" | awk 'NR == 2 {print $4}'; }
free="$(free_mb "$parent")"
tmp_free="$(free_mb "${TMPDIR:-/tmp}")"
if [ "$tmp_free" -lt "$free" ]; then
    free="$tmp_free"
fi
if [ "$free" -lt "$NEED_MB" ]; then
    reason="not built: $free MB free on this disk, the spandrel environment needs about $NEED_MB MB (torch 2.14.1 with its CUDA runtime libraries); free some space and run bash .ci/spandrel_env.sh"
    echo "spandrel environment $reason" >&2
    echo "$reason" >"$NOT_BUILT"
    exit 0
fi
echo "spandrel environment: ${TORCH[*]} and ${SPANDREL_REQ[*]} into $VENV, over $MAIN's site-packages ($free MB free)"
# a build that fails part-way leaves nothing (the slow test would otherwise run in a broken environment)
trap 'rm -rf "$VENV"' ERR
# a venv of the interpreter .venv was made from (the .pth below needs the same Python)
"$MAIN_PY" -m venv "$VENV"
touch "$VENV/.building"
VPY="$VENV/bin/python"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf 'import site; site.addsitedir(%s)\n' "$("$MAIN_PY" -c 'import sys; print(repr(sys.argv[1]))' "$MAIN_SITE")" \
    >"$SITE/zz_srwidgets_main_venv.pth"
# what pip would install here, given what .venv already has
"$VPY" -m pip install -q --no-cache-dir --dry-run --report "$VENV/.report.json" "${TORCH[@]}" "${SPANDREL_REQ[@]}"
"$VPY" - "$VENV/.report.json" "$DROP" >"$VENV/.pins" <<'PY'
import json, sys
drop = set(sys.argv[2].split())
for item in json.load(open(sys.argv[1]))["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if name.lower().replace("_", "-") not in drop:
        print(f"{name}=={version}")
PY
mapfile -t PINS <"$VENV/.pins"
"$VPY" -m pip install -q --no-cache-dir --no-deps "${PINS[@]}"
# the environment must import what the tests use, from the right places
"$VPY" - "$SITE" <<'PY'
import sys
import torch, torchvision, spandrel, srwidgets, pytest
site = sys.argv[1]
assert torch.__version__.split("+")[0] == "2.14.1" and torch.__file__.startswith(site), (torch.__version__, torch.__file__)
assert torchvision.__file__.startswith(site) and spandrel.__file__.startswith(site)
print(f"spandrel environment: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"spandrel {spandrel.__version__}, srwidgets from {srwidgets.__file__}")
PY
{
    echo "$want"
    echo "# built in $(( $(date +%s) - start )) s on $(date -u +%Y-%m-%dT%H:%M:%SZ), $(du -sm "$VENV" | cut -f1) MB:"
    cat "$VENV/.pins"
} >"$STAMP"
trap - ERR
rm -f "$VENV/.building"
