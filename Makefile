# Two commands: `make run` and `make test`. Both build the virtual environment themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# What the tests start from Debian's packages (SPEC §11 registry on PostgreSQL, §13 console in Chromium).
SYSTEM_STAMP := $(VENV)/.system-installed
DEBIAN_PACKAGES := postgresql chromium chromium-driver fonts-wqy-zenhei nodejs npm
# axe-core, run in the browser tests' pages (issue 19): npm's package in a folder the tests own, never a CDN.
AXE_VERSION := 4.14.1
AXE := tests/browser/.axe/node_modules/axe-core/axe.min.js

.PHONY: run test install system example bench lock clean

# Bytecode is written, whatever the shell says: the workflow sandbox imports the workflow's modules
# afresh for every workflow instance, and without a .pyc each import compiles the source again
# (issue 21: ~10 % of a workflow test's CPU, 30 % of the storm's worker in bench/worker_proc.py).
unexport PYTHONDONTWRITEBYTECODE

# The image's exact dependencies (requirements.lock) plus the test tools (requirements-test.lock),
# every file checked against its hash, wheels only; then the project itself, resolving nothing.
# Versions change only through `make lock`.
$(STAMP): pyproject.toml requirements.lock requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --only-binary=:all: -r requirements.lock -r requirements-test.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## system: the Debian packages the tests start themselves (installed only when missing; needs root)
$(SYSTEM_STAMP): $(STAMP)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	fc-list 2>/dev/null | grep -qi 'WenQuanYi Zen Hei' || missing="$$missing fonts-wqy-zenhei"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: need root to apt-get install$$missing (or install them yourself)" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	touch $(SYSTEM_STAMP)

## axe-core for the browser tests, installed with Debian's npm only when missing (tests/browser/pages_scan.py)
$(AXE): | $(SYSTEM_STAMP)
	npm install --silent --no-audit --no-fund --prefix tests/browser/.axe axe-core@$(AXE_VERSION)

system: $(SYSTEM_STAMP) $(AXE)

## run: start the local Temporal dev server (SQLite in .data/), a worker and the filing service with its console
run: $(STAMP)
	$(BIN)/python -m engine.run_local

## test: run the whole suite (unit, workflow on the time-skipping server, integration on the dev server, browser)
## on 2 pytest-xdist workers, one per core (README, Tests); TEST_WORKERS=0 runs it in one process.
## FILINGS_TEST_SCALE=full runs the loads at full size.
TEST_WORKERS ?= 2
test: $(STAMP) $(SYSTEM_STAMP) $(AXE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

## example: write a valid example application (its materials stored) to example.json
example: $(STAMP)
	$(BIN)/python starter.py --example example.json

## bench: engine vs bare Temporal baseline on servers it starts itself (sizes: .venv/bin/python -m bench --help)
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## lock: refresh requirements.lock (the image's hash-pinned dependencies) and requirements-test.lock
## (the test tools, on the image's pins) after changing pyproject.toml; `LOCK_ARGS=--upgrade` for newer
lock:
	deploy/refresh-lock.sh $(LOCK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
