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
# About 4.6 GB. Before building, the free space is checked: with less than SPANDREL_ENV_NEED_MB (default 5600 MB)
# free, nothing is built, the reason is printed and written to .venv-spandrel.not-built, and the slow test that needs
# the environment skips with that reason (it fails when the environment is missing with no such record).
#
# Idempotent: the stamp (.venv-spandrel/.installed) records what was asked for (the torch pair, the spandrel
# requirement, pyproject.toml's hash, .venv's site-packages); a re-run with the same record returns at once, and any
# other record rebuilds from scratch. First build: about a minute (everything comes from this machine's disk).
# Never add spandrel_extra_arches here (non-commercial licences).
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
# the spandrel requirement is the one in pyproject.toml's `spandrel` extra (one place to change it)
SPANDREL_REQ="$("$MAIN_PY" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["spandrel"])')"
want="$(printf 'torch=%s\nspandrel=%s\npyproject-sha256=%s\nmain-site=%s\ndropped=%s' "${TORCH[*]}" "$SPANDREL_REQ" \
    "$("$MAIN_PY" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')" \
    "$MAIN_SITE" "$DROP")"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(head -n 5 "$STAMP")" = "$want" ]; then
    exit 0
fi
start=$(date +%s)
rm -rf "$VENV" "$NOT_BUILT"   # another record (or a half-built environment): start from nothing
free_mb="$(df -Pm . | awk 'NR == 2 {print $4}')"
if [ "$free_mb" -lt "$NEED_MB" ]; then
    reason="not built: $free_mb MB free on this disk, the spandrel environment needs about $NEED_MB MB (torch 2.14.1 with its CUDA runtime libraries); free some space and run bash .ci/spandrel_env.sh"
    echo "spandrel environment $reason" >&2
    echo "$reason" >"$NOT_BUILT"
    exit 0
fi
echo "spandrel environment: ${TORCH[*]} and $SPANDREL_REQ into $VENV, over $MAIN's site-packages ($free_mb MB free)"
# a venv of the interpreter .venv was made from (the .pth below needs the same Python)
"$MAIN_PY" -m venv "$VENV"
VPY="$VENV/bin/python"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf 'import site; site.addsitedir(%s)\n' "$("$MAIN_PY" -c 'import sys; print(repr(sys.argv[1]))' "$MAIN_SITE")" \
    >"$SITE/zz_srwidgets_main_venv.pth"
# what pip would install here, given what .venv already has
"$VPY" -m pip install -q --no-cache-dir --dry-run --report "$VENV/.report.json" "${TORCH[@]}" "$SPANDREL_REQ"
mapfile -t PINS < <("$VPY" - "$VENV/.report.json" "$DROP" <<'EOF'
import json, sys
drop = set(sys.argv[2].split())
for item in json.load(open(sys.argv[1]))["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if name.lower().replace("_", "-") not in drop:
        print(f"{name}=={version}")
EOF
)
"$VPY" -m pip install -q --no-cache-dir --no-deps "${PINS[@]}"
# the environment must import what the tests use, from the right places
"$VPY" - "$SITE" <<'EOF'
import sys
import torch, torchvision, spandrel, srwidgets, pytest
site = sys.argv[1]
assert torch.__version__.split("+")[0] == "2.14.1" and torch.__file__.startswith(site), (torch.__version__, torch.__file__)
assert torchvision.__file__.startswith(site) and spandrel.__file__.startswith(site)
print(f"spandrel environment: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"spandrel {spandrel.__version__}, srwidgets from {srwidgets.__file__}")
EOF
{
    echo "$want"
    echo "# built in $(( $(date +%s) - start )) s on $(date -u +%Y-%m-%dT%H:%M:%SZ), $(du -sm "$VENV" | cut -f1) MB:"
    printf '%s\n' "${PINS[@]}"
} >"$STAMP"
