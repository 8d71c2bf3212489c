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

.PHONY: help install browser test check lint run serve bento bench reliability clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed ## Create .venv and install leadscore with dev extras (fast when nothing changed)

browser: ## Debian's headless Chromium for the review-page browser tests (browsers are not downloaded)
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install ## Ruff and the import-layer contracts
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install browser lint ## Lint, then the whole test suite
	$(PY) -m pytest -q

check: lint ## Inner loop: lint, then the tests not marked slow, service or browser
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

bento: install ## Build the leadscore wheel into dist/ and a Bento that installs it (`bentoml build`)
	rm -rf dist
	$(PY) -m pip wheel -q --no-deps -w dist .
	$(BIN)/bentoml build

bench: install ## Benchmarks: model quality (generator and real data), serving and scale (prints ratios, writes benchmarks/results)
	@for b in quality realdata attribution serving scale; do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

reliability: install ## Full fuzzing, overload and fault runs with a summary table
	$(PY) benchmarks/reliability.py

clean: ## Remove local state, demo data and caches (keeps .venv)
	rm -rf .leadscore $(DEMO) dist test-artifacts .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
