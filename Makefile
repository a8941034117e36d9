# scalinglab: two commands do all the set-up.
#   make book   execute every notebook and build the site into _build/html
#   make test   unit tests, a warning-free book build, the built site in a headless
#               browser (skipped without Chromium), and every notebook under nbval
# Both create .venv when it is missing and install what they need into it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODE ?= fast
export SCALINGLAB_MODE ?= $(MODE)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Without a GPU, install PyTorch 2.13.0 (on Linux, the small CPU build when one is at hand,
# e.g. from a local wheel directory or with TORCH_PIP_ARGS="--index-url
# https://download.pytorch.org/whl/cpu"). With nvidia-smi present, the default CUDA build.
ifeq ($(shell command -v nvidia-smi 2>/dev/null),)
TORCH_SPEC ?= torch==2.13.0
else
TORCH_SPEC ?= torch>=2.3
endif
TORCH_PIP_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: book test unit site nbval venv benchmark clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[book,test]"
	@touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "Book built: open _build/html/index.html"

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/test_site.py

# Needs the built book; skipped, with the reason, without Chromium and chromedriver.
site: $(STAMP)
	$(PY) -m pytest tests/test_site.py -v -rs

nbval: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env notebooks

test: unit book
	$(MAKE) site
	$(MAKE) nbval

benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf _build
