# numlake: the two commands of the README are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NUMLAKE_HOME ?= $(CURDIR)/.numlake
export NUMLAKE_HOME
PULL_SOURCES ?= 8
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
##    Some provincial carriers publish on an SFTP server of their own: the demo serves them from a real
##    sshd on 127.0.0.1 while the pipeline pulls (docs/PULL.md); without sshd, one line says so and all upload.
demo: $(STAMP)
	@pull=$(PULL_SOURCES); bash scripts/setup_sshd.sh >/dev/null 2>&1 || { pull=0; \
	  echo "demo: sshd (Debian openssh-server) cannot be had: no source is pulled, every source uploads"; }; \
	$(BIN)/numlake simulate --home "$(NUMLAKE_HOME)" --pull-sources $$pull
	$(BIN)/python -m ingestion.pull.sshd --home "$(NUMLAKE_HOME)" -- $(BIN)/numlake run --home "$(NUMLAKE_HOME)"
	$(BIN)/numlake notices demo --home "$(NUMLAKE_HOME)"
	@echo "dashboards: $(NUMLAKE_HOME)/dashboards/index.html"

## 2. Linters (scripts/lint.sh), then the whole test suite (installs Debian chromium + CJK fonts if missing)
test: $(STAMP)
	bash scripts/lint.sh
	bash scripts/setup_browser.sh
	bash scripts/setup_scale.sh
	bash scripts/setup_sshd.sh
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser and not scale"

## Benchmarks: prints ratios measured side by side; results go in BENCHMARKS.md
bench: $(STAMP)
	bash scripts/setup_bench.sh
	$(BIN)/python -m benchmarks.run

clean-home:
	rm -rf "$(NUMLAKE_HOME)"
