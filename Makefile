# Two commands are the contract with a newcomer: `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB     ?=
PARAMS ?=
PROFILE ?= quick
BUILD  := _build
# The book's own code (book/_lib/fedbook: runner, paper numbers, verdicts) is not part of the installed fedlib.
BOOKPY := PYTHONPATH=$(CURDIR)/book/_lib$${PYTHONPATH:+:$$PYTHONPATH} $(PY)

.PHONY: venv test book notebooks notebook html bench clean help

help:
	@echo "make test      - create/reuse .venv and run the test suite"
	@echo "make book      - execute every notebook not executed since its last change (quick profile), build the HTML book"
	@echo "make notebook NB=notebooks/x.py PARAMS='-p profile full -p device cuda'"
	@echo "make bench     - run the benchmarks (writes benchmarks/results/*.json)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,book]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(BOOKPY) -m fedbook.notebooks execute --profile $(PROFILE) --skip-fresh

notebook: $(STAMP)
	@test -n "$(NB)" || (echo "usage: make notebook NB=notebooks/<name>.py PARAMS='-p profile full'"; exit 2)
	$(BOOKPY) -m fedbook.notebooks execute --only $(NB) -- $(PARAMS)

html: $(STAMP)
	$(BOOKPY) -m fedbook.notebooks build

book: notebooks html
	@echo "Book start page: $(abspath $(BUILD)/html/index.html)"

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/run.py

clean:
	rm -rf $(BUILD)
