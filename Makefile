# Two commands: `make run` serves the app on http://127.0.0.1:5000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := incident

.PHONY: run test lint bench setup db translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed translations

# Compiled catalogs are build output (not committed); recompiled when a .po file changes.
translations: $(VENV)/.installed
	@for po in incident/translations/*/LC_MESSAGES/messages.po; do \
	  [ -e "$$po" ] || continue; mo=$${po%.po}.mo; \
	  if [ ! -e "$$mo" ] || [ "$$po" -nt "$$mo" ]; then $(BIN)/pybabel compile --statistics -i "$$po" -o "$$mo" || exit 1; fi; \
	done

# Re-extract the Japanese source strings and merge them into the English catalog (created the
# first time). New entries arrive with an empty msgstr: translate them (tests/test_i18n.py fails
# until every one is), then `make translations` compiles the .mo.
extract-messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o incident/translations/messages.pot .
	@if [ -e incident/translations/en/LC_MESSAGES/messages.po ]; then \
	  $(BIN)/pybabel update -i incident/translations/messages.pot -d incident/translations -l en \
	    --no-fuzzy-matching --ignore-obsolete; \
	else \
	  $(BIN)/pybabel init -i incident/translations/messages.pot -d incident/translations -l en; \
	fi

# ANALYZE after migrating: SQLite plans without statistics otherwise (the worker refreshes them daily).
db: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask db-optimize

# The worker (escalation sweep every minute, mail delivery) runs beside the web server and stops with it.
run: db
	$(BIN)/flask seed-demo --if-empty
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C to stop); the worker runs beside it"
	@export INCIDENT_BASE_URL=$${INCIDENT_BASE_URL:-http://$(HOST):$(PORT)}; \
	  $(BIN)/flask worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask run --host $(HOST) --port $(PORT)

# Lint and type checks (settings in pyproject.toml), run before the suite.
lint: setup
	$(BIN)/ruff check incident tests bench
	$(BIN)/mypy

# The suite runs on SQLite, and again on PostgreSQL when INCIDENT_TEST_DATABASE_URL is set (.ci/run sets it;
# under CI=true it must be set). Browser tests run in the SQLite pass. The two passes run side by side, one per
# core (CI has two); the PostgreSQL pass's output is printed after the SQLite pass's.
test: setup lint
	@if [ -n "$$INCIDENT_TEST_DATABASE_URL" ]; then \
	  pglog=$$(mktemp /tmp/incident-pg-pass.XXXXXX); \
	  $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS) > $$pglog 2>&1 & pgpass=$$!; \
	  echo "== SQLite pass (the PostgreSQL pass runs beside it; its output follows) =="; \
	  INCIDENT_TEST_DATABASE_URL= $(BIN)/python -m pytest $(PYTEST_ARGS); sqlite=$$?; \
	  wait $$pgpass; postgres=$$?; \
	  echo "== the same suite on PostgreSQL =="; cat $$pglog; rm -f $$pglog; \
	  echo "== SQLite pass: exit $$sqlite; PostgreSQL pass: exit $$postgres =="; \
	  [ $$sqlite = 0 ] && [ $$postgres = 0 ]; \
	elif [ "$$CI" = "true" ]; then \
	  echo "CI=true but INCIDENT_TEST_DATABASE_URL is not set: the PostgreSQL pass cannot run" >&2; exit 1; \
	else \
	  $(BIN)/python -m pytest $(PYTEST_ARGS) || exit 1; \
	  echo "(PostgreSQL pass skipped: set INCIDENT_TEST_DATABASE_URL=postgresql+psycopg://... to run it)"; \
	fi

# Speed goals, checked as ratios between input sizes (not by timed tests): exits non-zero on a regression.
# Then page times at BENCH_CASES cases (through the WSGI app; 100000 takes a while to seed: add it by hand,
# e.g. make bench BENCH_CASES="1000 100000") and a mixed read/write load on gunicorn, which must show no errors.
BENCH_CASES ?= 1000 10000
bench: setup
	$(BIN)/python bench/markdown_bench.py
	$(BIN)/python bench/blanks_bench.py
	BENCH_CASES="$(BENCH_CASES)" $(BIN)/python bench/pages_bench.py
	BENCH_CASES="$(BENCH_CASES)" $(BIN)/python bench/mixed_load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
