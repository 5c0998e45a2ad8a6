# The two set-up commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CORPUS_DIR ?= ../shared/corpus
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install test demo clean bench bench-quick bench-report

install: $(STAMP)

# torch first: a CPU wheel of exactly 2.13.0 is provided locally, while an unpinned
# torch pulled in by the package would fetch several GB of CUDA packages.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# -rs: the reason of every skipped test (e.g. no Chromium, no full corpora) in the summary
test: $(STAMP)
	$(PY) -m pytest -q -rs -p no:cacheprovider tests

demo: $(STAMP)
	$(PY) -m spacy_relext demo

# Every benchmark, then BENCHMARKS.md regenerated from benchmarks/results/ (QUICK=1: the
# quick mode, about 30-40 min on 2 cores; see benchmarks/run.py).
bench: $(STAMP)
	$(PY) benchmarks/run.py $(if $(QUICK),--quick) --corpus-dir $(CORPUS_DIR)

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick --corpus-dir $(CORPUS_DIR)

# BENCHMARKS.md from the stored results, without running anything.
bench-report: $(STAMP)
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
