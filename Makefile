# Two commands: `make run` and `make test`. Both build the virtual environment themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install example bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: start the local Temporal dev server (SQLite in .data/, Web UI on 127.0.0.1:8233) and a worker
run: $(STAMP)
	$(BIN)/python -m engine.run_local

## test: run the whole suite (unit, workflow on the time-skipping server, integration on the dev server)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## example: write a valid example application to example.json
example: $(STAMP)
	$(BIN)/python starter.py --example example.json

## bench: engine vs bare Temporal baseline on servers it starts itself (sizes: .venv/bin/python -m bench --help)
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
