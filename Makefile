# Two commands on a fresh machine: `make demo` and `make test`. Only python3 and make are assumed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# DEBUG is off unless set (fail closed); the development targets turn it on unless you chose.
DEV := DEBUG=$${DEBUG:-true}

.PHONY: install demo test test-fast lint web worker bench bench-quick migrate clean-db

$(INSTALLED): requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

migrate: $(INSTALLED)
	$(DEV) $(PY) manage.py migrate --verbosity 0

demo: migrate
	$(DEV) $(PY) manage.py demo

test: $(INSTALLED)
	$(DEV) $(PY) -m pytest

# The edit loop: everything but tests/workers (worker processes, the database taken away).
test-fast: $(INSTALLED)
	$(DEV) $(PY) -m pytest -m "not workers"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(DEV) $(VENV)/bin/mypy .

# `make web PORT=8001` when 8000 is taken.
PORT ?= 8000
web: migrate
	$(DEV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The worker stops itself when the database restarts; run_worker starts it again (as systemd's
# Restart=always does) and gives up if it keeps exiting.
worker: migrate
	$(DEV) CONN_MAX_AGE=$${CONN_MAX_AGE:-60} $(PY) manage.py run_worker

# Benchmarks in their own database (matchday_bench), recreated each run; see bench/README.md.
bench: $(INSTALLED)
	$(PY) -m bench

bench-quick: $(INSTALLED)
	$(PY) -m bench --users 5000 --matches 40

# Outside CI: 20,000, 200,000 and 1,000,000 players x 40 matches (40 M predictions at the top:
# about 10 GB of disk while it runs, dropped after); see bench/README.md. BENCH_SCALE_ARGS adds
# options (e.g. --players 20000,200000).
.PHONY: bench-scale bench-http
bench-scale: $(INSTALLED)
	$(PY) -m bench.scale $(BENCH_SCALE_ARGS)

# Reads over HTTP: gunicorn (2 workers, DEBUG off) against 8 local clients, each kind of read
# against Django's own 404; see bench/README.md.
bench-http: $(INSTALLED)
	$(PY) -m bench.http_reads $(BENCH_HTTP_ARGS)

# The embedded server (DATABASE_URL unset) keeps its data across db-stop and db-start. db-stop
# holds it stopped: no process starts it again until db-start. db-status connects to it and
# exits 3 when it does not answer.
.PHONY: db-status db-start db-stop
db-status db-start db-stop: $(INSTALLED)
	@$(PY) -m stats_project.embedded_postgres $(@:db-%=%)

# Stops the embedded server and deletes its data; the next `make migrate` creates a fresh one.
clean-db: $(INSTALLED)
	$(PY) -m stats_project.embedded_postgres stop
	rm -rf .pgdata

# Three workers, a few hundred results over a minute, steady API reads, then a from-scratch check
# (bench/loadtest.py; its own database, matchday_load). Not part of `make test`.
.PHONY: loadtest
loadtest: $(INSTALLED)
	$(PY) -m bench.loadtest $(LOADTEST_ARGS)
