# gbc-teach: `make test` is what CI runs (.ci/run); `make demo` is the CPU toy run, set-up included.
#
# torch is installed FIRST and pinned: with torch 2.13.0 already in the venv, the `torch>=2.1`
# of pyproject.toml installs nothing more, so a CPU machine never pulls a multi-GB CUDA build
# through a range. On a CPU-only Linux machine without a local CPU wheel, point pip at PyTorch's
# CPU wheel index (README, "Installing torch"):
#   make demo TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
#
# The venv grows in layers, each installed once and marked by a stamp file in the venv:
#   runtime (`make venv`, `make demo`): torch, then the package with its runtime dependencies;
#   dev (`make test`): + pytest, nbval, ruff, ...;  lab (`make lab`): + JupyterLab and widgets.
# A stamp is redone when pyproject.toml changes (and every layer above it with it).
#
# pip runs with --no-compile: it would otherwise byte-compile every module of every package
# (about 8,700 files and 230 MB of .pyc for the runtime layer alone, 35 s of CPU time); Python
# compiles the 1,300 or so modules a run imports on their first use instead (about 5 s).

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
# extra options for `jupyter lab`, e.g. LAB_ARGS="--no-browser --port 8888" on a headless server
LAB_ARGS ?=
# options for the Voilà app of `make explore` (a lecture projector: the explorers, no code)
EXPLORE_ARGS ?= --no-browser --port 8866 --Voila.ip=127.0.0.1
RUNTIME_STAMP := $(VENV)/.gbc-teach-runtime
DEV_STAMP := $(VENV)/.gbc-teach-dev
LAB_STAMP := $(VENV)/.gbc-teach-lab
PIP := $(VENV)/bin/pip install --no-compile

.PHONY: venv demo test test-browser lab explore clean

venv: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PIP) -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(PIP) -e '.[dev]'
	touch $@

$(LAB_STAMP): $(RUNTIME_STAMP)
	$(PIP) -e '.[lab]'
	touch $@

demo: $(RUNTIME_STAMP)
	$(VENV)/bin/gbc-teach toy2d --seed 0 --out outputs/toy2d

# ruff lints the notebooks' py:percent sources (notebooks/*.py); nbval runs the stored .ipynb;
# --durations lists the slowest tests (the browser tests among them) in the CI log
test: $(DEV_STAMP) $(LAB_STAMP)
	$(VENV)/bin/ruff check gbc_teach tests notebooks apps
	$(VENV)/bin/pytest -q --durations=12
	GBC_FAST=1 $(VENV)/bin/pytest -q --nbval-lax notebooks/

# the widget tests alone (tests/browser: JupyterLab in headless Chromium; `make test` runs them too,
# and skips them without /usr/bin/chromium)
test-browser: $(DEV_STAMP) $(LAB_STAMP)
	$(VENV)/bin/pytest -q -rA -m browser tests/browser

# Jupyter refuses to start as root unless told --allow-root: added when running as root
lab: $(LAB_STAMP)
	@allow_root=; if [ "$$(id -u)" = 0 ]; then allow_root=--allow-root; fi; \
	echo "$(VENV)/bin/jupyter lab $$allow_root $(LAB_ARGS) notebooks/"; \
	exec $(VENV)/bin/jupyter lab $$allow_root $(LAB_ARGS) notebooks/

# generated files only; the venv stays (rm -rf .venv to rebuild it from scratch)
clean:
	rm -rf build .pytest_cache .ruff_cache outputs
	find gbc_teach tests notebooks -name __pycache__ -type d -prune -exec rm -rf {} +
	find notebooks -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

# the margin explorer (apps/explore.ipynb, trained at fast sizes when the page opens) as a web app:
# Voilà runs the notebook and shows its text and widgets, not its code
explore: $(LAB_STAMP)
	$(VENV)/bin/voila apps/explore.ipynb $(EXPLORE_ARGS)
