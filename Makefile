# gbc-teach: `make test` is what CI runs (.ci/run); `make demo` is the three-minute CPU run.
#
# torch is installed FIRST and pinned: with torch 2.13.0 already in the venv, the `torch>=2.1`
# of pyproject.toml installs nothing more, so a CPU machine never pulls a multi-GB CUDA build
# through a range. On a CPU-only Linux machine without a local CPU wheel, point pip at PyTorch's
# CPU wheel index (see the README, "Installing torch"): make venv TORCH_PIP_ARGS="--index-url URL"

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.gbc-teach-installed

.PHONY: venv demo test lab clean

venv: $(STAMP)

# the stamp makes `venv` a no-op once done; it is redone when pyproject.toml changes
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

demo: venv
	$(VENV)/bin/gbc-teach toy2d --seed 0 --out outputs/toy2d

# ruff lints the notebooks' py:percent sources (notebooks/*.py); nbval runs the stored .ipynb
test: venv
	$(VENV)/bin/ruff check gbc_teach tests notebooks
	$(VENV)/bin/pytest -q
	GBC_FAST=1 $(VENV)/bin/pytest -q --nbval-lax notebooks/

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

# generated files only; the venv stays (rm -rf .venv to rebuild it from scratch)
clean:
	rm -rf build .pytest_cache .ruff_cache outputs
	find gbc_teach tests notebooks -name __pycache__ -type d -prune -exec rm -rf {} +
	find notebooks -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
