PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-gui
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# The window and the control center under it: what a user needs.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[gui]'
	touch $(RUN_STAMP)

# Everything the tests and benchmarks use besides (pytest, ruff, MLflow, ONNX, atheris, …).
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[gui,dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/feddeck

lint: $(DEV_STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q -rs

# The suite without the end-to-end runs and long transfers (`slow`): a few minutes.
test-fast: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q -m "not slow" -rs

# Every benchmark but two long ones: bench.soak (30 minutes of runs under chaos, by
# default) and bench.fuzz (a million executions per parser; its finds become
# tests/security/fuzz_regressions).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.transfer
	$(BIN)/python -m bench.cluster_runs
	$(BIN)/python -m bench.round_overhead
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench.plot_refresh
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.aggregate
	$(BIN)/python -m bench.secure_aggregation
	$(BIN)/python -m bench.protocols
	$(BIN)/python -m bench.store_model
	$(BIN)/python -m bench.flood
	$(BIN)/python -m bench.gpu_edge
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench.lab_pages
	$(BIN)/python -m bench.window_start
	@echo "left out (long): python -m bench.soak --minutes 30; python -m bench.fuzz"

screenshots: $(DEV_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m app.ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info
