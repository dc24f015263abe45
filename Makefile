# Two commands on a fresh clone: `make run` and `make test`. Everything else is set-up they call.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export NLTK_DATA := $(CURDIR)/.cache/nltk_data

.PHONY: setup data run test test-all lock clean

setup: $(VENV)/.installed  ## create .venv with the locked dependencies

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: setup  ## materialise the real datasets into data/ and record them in DVC's cache
	$(BIN)/mtst data fetch > /dev/null
	$(BIN)/dvc commit --force --quiet data.dvc
	@echo "data/ ready: $$(cat data/summary.json | $(BIN)/python -c 'import json,sys; s=json.load(sys.stdin); print(", ".join(f"{k} {v[\"rows\"]} rows" for k,v in s.items()))')"

run: data  ## the whole pipeline on the active profile
	$(BIN)/mtst data prepare > /dev/null
	$(BIN)/mtst embed "The central bank raised interest rates again." "Shares fell after the profit warning." "What a wonderful, heartwarming film!"

test: data  ## the test suite (slow benchmarks-sized tests excluded)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lock:  ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .cache/lockenv && $(PYTHON) -m venv .cache/lockenv
	.cache/lockenv/bin/pip install --quiet ".[dev]"
	(head -2 requirements.lock; .cache/lockenv/bin/pip freeze --exclude-editable | grep -v '^mtst' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/') > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

clean:
	rm -rf artifacts metrics reports plots mlruns mlflow.db
