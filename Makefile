# Two commands are the contract with a newcomer: `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB     ?=
PARAMS ?=
PROFILE ?= quick
BUILD  := _build
# The book's own code (fedbook: runner, paper numbers, verdicts) stays in book/_lib/fedbook and is installed with
# fedlib (pyproject.toml maps it), so the targets below, plain papermill and JupyterLab all import it as installed.

.PHONY: venv test lint lock scale-data scale book notebooks notebook html reproduce bench clean help

help:
	@echo "make test      - create/reuse .venv and run the test suite"
	@echo "make book      - execute every notebook not executed since its last change (quick profile), build the HTML book"
	@echo "make notebook NB=notebooks/x.py PARAMS='-p profile full -p device cuda'"
	@echo "make lint      - ruff check, ruff format --check, mypy"
	@echo "make scale-data - install the full Fashion-MNIST (Debian's dataset-fashion-mnist) for the scale profile"
	@echo "make reproduce DEVICE=cuda [REPRODUCE_ARGS='--datasets mnist --scheduler tcp://HOST:8786']"
	@echo "               - the paper's full grids: plan, sweep, execute the notebooks against the results, build the book"
	@echo "make scale [BLOCKS='dnc afa_fang'] [WORKERS=2] - the scale campaign's blocks into results/scale (resumable),"
	@echo "               then the pages that show them (REPRODUCE_ARGS='--plan-only': the plan and the hours left)"
	@echo "make bench     - run the benchmarks (writes benchmarks/results/*.json)"

# constraints.txt pins every package (torch 2.14.1 with torchvision 0.29.1 is the pair that installs and imports
# on our machines); pyproject.toml keeps the library's ranges. `make lock` regenerates the pins from .venv.
EXTRAS := test,book,sweep,flower,dev

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

# Every core runs tests (pytest-xdist): the notebook executions are independent and dominate the time.
# PYTEST_WORKERS= (empty) runs them in one process.
PYTEST_WORKERS ?= -n auto

test: $(STAMP)
	FEDLIB_PINNED_ENV=1 $(PY) -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check fedlib
	$(VENV)/bin/mypy

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable --all | grep -v '^pip==' > constraints.txt

# The scale profile reads the full Fashion-MNIST from Debian's package (70,000 images, ~30 MB).
scale-data:
	test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist)

notebooks: $(STAMP)
	$(PY) -m fedbook.notebooks execute --profile $(PROFILE) --skip-fresh

notebook: $(STAMP)
	@test -n "$(NB)" || (echo "usage: make notebook NB=notebooks/<name>.py PARAMS='-p profile full'"; exit 2)
	$(PY) -m fedbook.notebooks execute --only $(NB) -- $(PARAMS)

html: $(STAMP)
	$(PY) -m fedbook.notebooks build

book: notebooks html
	@echo "Book start page: $(abspath $(BUILD)/html/index.html)"

# `fedlib reproduce` plans and runs every notebook's full grid (resumable), then runs this folder's book runner
# on those results. PROFILE's quick default means full here (`make scale` runs the scale campaign).
DEVICE ?= auto
REPRODUCE_ARGS ?=
reproduce: $(STAMP)
	$(PY) -m fedlib reproduce --profile $(if $(filter quick,$(PROFILE)),full,$(PROFILE)) --device $(DEVICE) \
	  --book $(CURDIR) $(REPRODUCE_ARGS)

# The scale campaign (full Fashion-MNIST, grids.SCALE_BLOCKS): the blocks BLOCKS (default: all) into the committed
# results/scale, skipping the runs already there, WORKERS local processes of one torch thread each; then the pages
# that show those blocks are re-executed and the book is built. Commit the new results/scale files.
BLOCKS ?=
WORKERS ?= 2
scale: $(STAMP) scale-data
	$(PY) -m fedlib reproduce --profile scale $(if $(BLOCKS),--only $(BLOCKS)) --results-dir $(CURDIR)/results/scale \
	  --workers $(WORKERS) --book $(CURDIR) $(REPRODUCE_ARGS)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/run.py

clean:
	rm -rf $(BUILD)
