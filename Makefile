# scalinglab: two commands do all the set-up.
#   make book   execute every notebook and build the site into _build/html, with a
#               slide deck per chapter in _build/html/slides (make slides: the same)
#   make test   unit tests, a warning-free book build, the built site in a headless
#               browser (skipped without Chromium), and every notebook under nbval
# Both create .venv when it is missing and install what they need into it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODE ?= fast
export SCALINGLAB_MODE ?= $(MODE)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# PyTorch 2.13.0 everywhere. On Linux, PyPI's wheel of it is the CUDA build (what a GPU
# machine wants); on a machine without a GPU, a small CPU build is enough when one is at
# hand (a local wheel, or TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu").
# After installing, the check below prints the version and its CUDA build, and fails when
# nvidia-smi sees a GPU that this torch cannot use (a wheel built for a newer driver).
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=

STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.torch-spec
GPU_CHECK_ARGS ?=

.PHONY: book slides test unit site nbval venv benchmark gpu-check clean FORCE

venv: $(STAMP)

# Holds the torch requirement .venv was made with; rewritten, so that the install runs
# again, when TORCH_SPEC or TORCH_PIP_ARGS change.
$(TORCH_STAMP): FORCE
	@mkdir -p $(VENV)
	@if [ "$$(cat $@ 2>/dev/null)" != "$(TORCH_SPEC) $(TORCH_PIP_ARGS)" ]; then echo "$(TORCH_SPEC) $(TORCH_PIP_ARGS)" > $@; fi

$(STAMP): pyproject.toml $(TORCH_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[book,test]"
	@$(PY) -c "import shutil, sys, torch; gpu = shutil.which('nvidia-smi') is not None; ok = torch.cuda.is_available(); \
	print(f'torch {torch.__version__} (CUDA build: {torch.version.cuda}); GPU seen by nvidia-smi: {gpu}; usable: {ok}'); \
	sys.exit(gpu and not ok and 'nvidia-smi sees a GPU that this torch cannot use: install a torch built for its driver (TORCH_SPEC, TORCH_PIP_ARGS)')"
	@touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "Book built: open _build/html/index.html"

# The chapters' slide decks are built with the book (book/_ext/slides.py), into _build/html/slides.
slides: book

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

# What the course needs of a CUDA machine, asserted (benchmarks/gpu_check.py; under 8 minutes
# on one GPU). GPU_CHECK_ARGS=--dry-run runs the same steps on the CPU at toy sizes.
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf _build
