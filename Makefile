# Two commands a new user needs (both idempotent, both create .venv when it is missing):
#   make lab    install, then open JupyterLab on the LAM tour notebook   (make tour: headless, executes it)
#   make test   install, then run the whole test suite (unit, notebooks via nbval, real browser): bash .ci/run
#   make docs   install the docs extra, then build the site into docs/_build/html (warnings are errors)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TOUR    := notebooks/01_lam_tour.ipynb

.PHONY: install install-docs lab tour test test-fast bench docs clean

# .ci/install.sh (shared with .ci/run) creates .venv, installs CPU torch 2.13.0 first (a plain `torch` would pull a
# multi-GB CUDA build), then srwidgets with the extras named; its stamp .venv/.installed records the torch pin, the
# extras and pyproject.toml's hash, so it installs again only when something the command needs is missing.
install:
	PY=$(PY) bash .ci/install.sh dev

install-docs:
	PY=$(PY) bash .ci/install.sh dev,docs

# JupyterLab refuses to start as root without --allow-root (containers, CI-like machines).
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: install
	$(BIN)/jupyter lab $(ROOTFLAG) $(TOUR)

tour: install
	mkdir -p artifacts
	$(BIN)/jupyter nbconvert --to notebook --execute $(TOUR) --output-dir artifacts --output 01_lam_tour.executed.ipynb
	$(BIN)/python -m srwidgets lam astronaut --downsample --model x4-edsr-lite --window 98,84,16 --out artifacts/lam.png
	@echo "executed tour: artifacts/01_lam_tour.executed.ipynb   LAM figure: artifacts/lam.png"

# The test command lives in .ci/run (CI runs exactly it); it installs what it needs itself.
test:
	bash .ci/run

test-fast: install
	$(BIN)/python -m pytest -m "not slow" --doctest-modules tests srwidgets -q

bench: install
	$(BIN)/python benchmarks/lam_bench.py

# The docs site (Sphinx + myst-nb, docs/conf.py): the notebooks rendered from their stored outputs, never executed.
docs: install-docs
	bash docs/build.sh

clean:
	rm -rf $(VENV) artifacts .pytest_cache docs/_build docs/notebooks docs/_generated
