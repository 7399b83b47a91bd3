# Two commands a new user needs (both idempotent, both create .venv when it is missing):
#   make lab    install, then open JupyterLab on the LAM tour notebook   (make tour: headless, executes it)
#   make test   install, then run the whole test suite (unit, notebooks via nbval, real browser): bash .ci/run
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TOUR    := notebooks/01_lam_tour.ipynb

.PHONY: install lab tour test test-fast bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# CPU torch 2.13.0 first (a local wheel on our machines; a plain `torch` would pull a multi-GB CUDA build).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to start as root without --allow-root (containers, CI-like machines).
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOTFLAG) $(TOUR)

tour: $(STAMP)
	mkdir -p artifacts
	$(BIN)/jupyter nbconvert --to notebook --execute $(TOUR) --output-dir artifacts --output 01_lam_tour.executed.ipynb
	$(BIN)/python -m srwidgets lam astronaut --downsample --model x4-edsr-lite --window 98,84,16 --out artifacts/lam.png
	@echo "executed tour: artifacts/01_lam_tour.executed.ipynb   LAM figure: artifacts/lam.png"

# The test command lives in .ci/run (CI runs exactly it); it installs what it needs itself.
test:
	bash .ci/run

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" --doctest-modules tests srwidgets -q

bench: $(STAMP)
	$(BIN)/python benchmarks/lam_bench.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache
