# ablate: `make study` and `make test` work on a fresh clone; every target installs first if needed.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := .install.stamp
name    ?= quickstart
workers ?= 2  # cells trained at a time (one in ablate run itself): 2 cores here, 1.4-1.5x faster than 1 on the quickstart
port    ?= 5000

.PHONY: install study report status ui test test-all lint validate clean-stores help dashboard

help:
	@echo "make install              create .venv and install ablate with dev extras"
	@echo "make study name=NAME      run studies/NAME.yaml (default quickstart) and build its report (workers=N)"
	@echo "                          args='train.epochs=2 seeds=1' overrides fields of the study file"
	@echo "make status name=NAME     cells done/running/failed/waiting, per worker host"
	@echo "make report name=NAME     rebuild reports/NAME/index.html from MLflow alone"
	@echo "make ui                   MLflow UI on http://127.0.0.1:$(port) over ./mlflow.db"
	@echo "make dashboard name=NAME  optuna-dashboard on http://127.0.0.1:$(dashboard_port) over the study's storage"
	@echo "make test                 the fast test layers: unit and in-process integration (under 3 minutes)"
	@echo "make test-all             every test layer, system too (processes, servers, browser; what CI runs)"
	@echo "make lint                 ruff"
	@echo "make validate             validate every studies/*.yaml"
	@echo "make bench                the seven speed figures (benchmarks/; minutes, on a quiet machine)"
	@echo "make clean-stores         delete ./mlflow.db, ./optuna.journal and reports/ (every study's results)"

install: $(STAMP)

# the stamp is newer than pyproject.toml once the environment matches it
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip uninstall --quiet --yes ablate 2>/dev/null || true  # the distribution's name before ablate-studies
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/ablate run studies/$(name).yaml --workers $(workers) $(args)

report: $(STAMP)
	$(BIN)/ablate report studies/$(name).yaml

status: $(STAMP)
	$(BIN)/ablate status studies/$(name).yaml $(args)

validate: $(STAMP)
	$(BIN)/ablate validate studies/*.yaml

ui: $(STAMP)
	$(BIN)/ablate ui --host 127.0.0.1 --port $(port)

# optuna-dashboard is the optional extra `dashboard`: installed on first use
dashboard_port ?= 8080
dashboard: $(STAMP)
	$(BIN)/python -c "import optuna_dashboard" 2>/dev/null || $(BIN)/pip install --quiet -e '.[dashboard]'
	$(BIN)/ablate dashboard studies/$(name).yaml --host 127.0.0.1 --port $(dashboard_port)

# two test processes (one torch thread each, tests/conftest.py). `make test`: the unit and in-process
# integration layers (no process, server or browser started; minutes). `make test-all`: every layer, the
# system one too (ablate commands, workers, servers, Chromium, PostgreSQL, kill chains): what CI runs
jobs    ?= 2
PYTEST  := $(BIN)/pytest -q -n $(jobs) --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	$(PYTEST) -m "not system"

test-all: $(STAMP)
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check ablate tests benchmarks

clean-stores:
	rm -rf mlflow.db mlflow.db-wal mlflow.db-shm mlartifacts mlruns optuna.journal optuna.journal.lock reports/*/

# the seven speed figures of issue 5 (minutes; run it on a quiet machine); BENCH_QUICK=1 checks the scripts
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(figures)
