# numlake: the two commands of the README are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NUMLAKE_HOME ?= $(CURDIR)/.numlake
export NUMLAKE_HOME
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: setup demo test test-fast bench clean-home

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

## 1. Simulated country -> ingestion -> dbt warehouse -> dashboards + check snapshot, in $(NUMLAKE_HOME);
##    then a few organisations' watchlists and a local webhook receiver (notices raised and delivered)
demo: $(STAMP)
	$(BIN)/numlake simulate --home "$(NUMLAKE_HOME)"
	$(BIN)/numlake run --home "$(NUMLAKE_HOME)"
	$(BIN)/numlake notices demo --home "$(NUMLAKE_HOME)"
	@echo "dashboards: $(NUMLAKE_HOME)/dashboards/index.html"

## 2. The whole test suite (installs Debian chromium + CJK fonts for the browser tests if missing)
test: $(STAMP)
	bash scripts/setup_browser.sh
	bash scripts/setup_scale.sh
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser and not scale"

## Benchmarks: prints ratios measured side by side; results go in BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean-home:
	rm -rf "$(NUMLAKE_HOME)"
