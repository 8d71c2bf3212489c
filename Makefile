# leadscore — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
DEMO   := demo
HOST   ?= 127.0.0.1
PORT   ?= 3000
N      ?= 20000

# Telemetry off; all local state (MLflow store, BentoML home, feedback db) inside the project, gitignored.
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export LEADSCORE_HOME := $(CURDIR)/.leadscore
export BENTOML_HOME := $(CURDIR)/.leadscore/bentoml
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/.leadscore/mlflow.db

.PHONY: help install browser test check lint docs-check run serve bento bench reliability clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

# Installed editable in strict mode: a tree of links under build/ that IDEs, type checkers and import-linter
# follow like any package. A new file needs new links: the second stamp re-links (seconds) when the package
# folders change.
PACKAGES := api cli datasets features marketing models monitoring records scoring serving settings training
EDITABLE := --config-settings editable_mode=strict

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]" $(EDITABLE)
	touch $@

$(VENV)/.linked: $(VENV)/.installed $(shell find $(PACKAGES) -type f -not -name '*.pyc' 2>/dev/null)
	$(PY) -m pip install -q --no-deps -e . $(EDITABLE)
	touch $@

install: $(VENV)/.linked ## Create .venv and install leadscore with dev extras (fast when nothing changed)

browser: ## Debian's headless Chromium for the review-page browser tests (browsers are not downloaded)
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install ## Ruff and the import-layer contracts
	$(BIN)/ruff check .
	$(BIN)/lint-imports

docs-check: install ## Every figure in README.md and docs/ equals its benchmarks/results file (no network, no model)
	$(PY) benchmarks/figures.py

test: install browser lint docs-check ## Lint, the docs check, then the whole test suite
	$(PY) -m pytest -q

check: lint docs-check ## Inner loop: lint, the docs check, then the tests not marked slow, service or browser
	$(PY) -m pytest -q -m "not slow and not service and not browser"

$(DEMO)/responses.csv:  # written with the leads; a demo folder from before responses existed is regenerated
	$(BIN)/leadscore demo-data --out $(DEMO) --n $(N)

$(LEADSCORE_HOME)/champion.stamp: $(DEMO)/responses.csv
	$(BIN)/leadscore train --data $(DEMO)/leads.csv --config $(DEMO)/leadscore.toml
	touch $@

run: install $(LEADSCORE_HOME)/champion.stamp ## Everything: venv, demo data, train, register champion, serve
	@echo "champion trained and registered; scoring the demo leads once as a check"
	$(BIN)/leadscore score --data $(DEMO)/leads.csv --config $(DEMO)/leadscore.toml --out $(DEMO)/scores.csv --reasons 1
	@echo "multi-touch campaign credit next to the campaign report, and accounts (demo leads end 2026-06-30)"
	$(BIN)/leadscore report campaigns --data $(DEMO)/leads.csv --config $(DEMO)/leadscore.toml --out $(DEMO)/report
	$(BIN)/leadscore report accounts --data $(DEMO)/leads.csv --config $(DEMO)/leadscore.toml --out $(DEMO)/accounts.csv --as-of 2026-07-01 --top 5
	@echo "starting the service, sending it 300 demo leads, then replaying their responses as if now"
	$(BIN)/bentoml serve leadscore.serving.service:LeadScoringService --host $(HOST) --port $(PORT) & s=$$!; \
		trap 'kill $$s' INT TERM; \
		$(PY) scripts/demo_client.py --url http://$(HOST):$(PORT) --data $(DEMO)/leads.csv --responses $(DEMO)/responses.csv --n 300 || { kill $$s; exit 1; }; \
		wait $$s

serve: install ## Serve the champion on localhost (HOST=127.0.0.1 PORT=3000)
	@echo "leadscore: review page http://$(HOST):$(PORT)/ui  API docs http://$(HOST):$(PORT)/docs"
	$(BIN)/bentoml serve leadscore.serving.service:LeadScoringService --host $(HOST) --port $(PORT)

bento: install ## A Bento of the scoring service tagged with leadscore's version, its packages pinned to this environment
	rm -rf dist && mkdir -p dist/bento
	$(PY) -m pip install -q --no-deps --no-compile --target dist/bento .
	$(PY) scripts/bento_requirements.py > dist/bento/requirements.txt
	cp bentofile.yaml dist/bento/
	$(BIN)/bentoml build dist/bento --version "$$($(PY) -c 'import leadscore; print(leadscore.__version__)')"

bench: install ## Benchmarks: quality (generator and real data), attribution, serving, scale; writes benchmarks/results
	@failed=; for b in quality realdata attribution serving scale; do echo "== benchmarks/$$b.py"; \
		$(PY) benchmarks/$$b.py || failed="$$failed $$b"; done; \
		$(PY) benchmarks/figures.py --write; \
		if [ -n "$$failed" ]; then echo "goals missed or refused to run:$$failed"; exit 1; fi

reliability: install ## Full fuzzing, overload and fault runs with a summary table
	$(PY) benchmarks/reliability.py; s=$$?; $(PY) benchmarks/figures.py --write; exit $$s

clean: ## Remove local state, demo data and caches (keeps .venv)
	rm -rf .leadscore $(DEMO) dist test-artifacts .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
