PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[gui,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/feddeck

test: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.transfer
	$(BIN)/python -m bench.round_overhead
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench.plot_refresh
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.aggregate
	$(BIN)/python -m bench.store_model
	$(BIN)/python -m bench.gpu_edge
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench.lab_pages
	$(BIN)/python -m bench.window_start

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m app.ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info
