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

.PHONY: setup serving-setup wordnet data browser ui run ablations test test-all pytest lock clean clean-store engine image mlflow-image serving-image images serve

setup: $(VENV)/.installed  ## create .venv with the locked dependencies

# pip checks each file's sha256 before it unpacks or builds it (--require-hashes). The lock's few sdists (projects
# with no wheel) are built with the locked setuptools, installed first (--no-build-isolation): build isolation
# would install setuptools and wheel unpinned and unchecked, and run them. BUILD_BACKEND: its entry in the lock.
BUILD_BACKEND = awk '/^setuptools==/ {keep = 1; print; next} keep && /^ +--hash/ {print; next} {keep = 0}'

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BUILD_BACKEND) requirements.lock > $(VENV)/build-backend.lock
	$(BIN)/python -m pip install --quiet --require-hashes --only-binary :all: --no-deps -r $(VENV)/build-backend.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-build-isolation -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The model server's own environment: MLServer pins libraries that conflict with requirements.lock (fastapi), so it
# gets its own lock (infra/requirements-serving.lock: requirements.lock's versions but for the exceptions its .in
# declares; no torch) and venv; mtst goes in without its dependencies, for the runtime's imports (mtst.serve).
SERVING := .venv-serving

serving-setup: $(SERVING)/.installed  ## create .venv-serving (MLServer + ONNX Runtime / OpenVINO, no torch) from its lock

# Made afresh when the lock changes: it then holds exactly the lock (pip would leave a package the lock dropped).
$(SERVING)/.installed: infra/requirements-serving.lock pyproject.toml
	rm -rf $(SERVING) && $(PYTHON) -m venv $(SERVING)
	$(SERVING)/bin/python -m pip install --quiet --require-hashes --only-binary :all: -r infra/requirements-serving.lock
	$(SERVING)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

wordnet: setup  ## WordNet for synonym augmentation: Debian wordnet-base laid out in $(NLTK_DATA) (no-op when there)
	$(BIN)/mtst wordnet install --root $(NLTK_DATA) > /dev/null

data: setup wordnet  ## materialise the real datasets into data/ and record them in DVC's cache
	$(BIN)/mtst data fetch > /dev/null
	$(BIN)/dvc commit --force --quiet data.dvc
	@$(BIN)/python -c 'import json; s = json.load(open("data/summary.json")); print("data/ ready:", ", ".join(k + " " + str(v["rows"]) + " rows" for k, v in s.items()))'

run: data  ## the whole pipeline (dvc repro) on the active profile of params.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@echo
	@echo "comparison report: $(CURDIR)/reports/comparison.md (chart: reports/comparison.png)"
	@echo "metrics:           $(BIN)/dvc metrics show   |   plots: $(BIN)/dvc plots show"
	@echo "MLflow runs:       make ui  (prints the training-runs URL; store: $(CURDIR)/mlflow.db)"

ablations: data  ## after `make run`: the ablations (params.yaml variants with ablation_of) trained, evaluated into MLflow, compared
	@for v in $$($(BIN)/mtst dag ablations); do \
	  echo "== $$v"; $(BIN)/mtst train --variant $$v > /dev/null && $(BIN)/mtst evaluate --variant $$v > /dev/null || exit 1; done
	$(BIN)/mtst compare > /dev/null
	@echo "ablation table: $(CURDIR)/reports/comparison.md; later comparisons on the same test rows read them from MLflow"

# The images build in the background while the suite runs (a cold build is minutes of mostly pip); the tests
# that use them run last (tests/conftest.py) and wait for that build (infra/build.sh holds a lock).
test: data browser engine serving-setup  ## the test suite (slow benchmarks-sized tests excluded)
	@$(MAKE) --no-print-directory pytest PYTEST_MARK='-m "not slow"'

test-all: data browser engine serving-setup
	@$(MAKE) --no-print-directory pytest PYTEST_MARK=

# CPU_CLASS=avx2 make test: the suite as an AVX2-only CPU computes it, on a newer one (mtst.cpu.CLASS_CAPS;
# docs/cpu-classes.md says what the cap covers).
CLASS_ENV = $(if $(CPU_CLASS),$(shell $(BIN)/python -c 'import sys; from mtst.cpu import CLASS_CAPS; print(*(k + "=" + v for k, v in CLASS_CAPS[sys.argv[1]].items()))' $(CPU_CLASS)))

pytest:
	@mkdir -p build; (bash infra/build.sh mtst && bash infra/build.sh mlflow && bash infra/build.sh serving) > /dev/null 2> build/images.log & images=$$!; \
	$(CLASS_ENV) $(BIN)/python -m pytest $(PYTEST_MARK) $(PYTEST_ARGS); status=$$?; \
	wait $$images || { echo "image build failed: build/images.log" >&2; tail -n 20 build/images.log >&2; }; exit $$status

browser:  ## headless Chromium (Debian) for the MLflow UI end-to-end test; installed only when missing
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium > /dev/null)

# Containers (infra/): the engine is Debian's dockerd, installed and started by infra/engine.sh; the base image
# is pulled, or made from Debian packages where no registry answers (infra/base.sh). Builds are cached.
engine:  ## the container engine: Debian docker.io + debootstrap installed when missing, dockerd started when down
	bash infra/engine.sh

image: engine  ## the components' image mtst:<version>-cpu (TORCH_VARIANT=cuda make image: the GPU one)
	bash infra/build.sh mtst > /dev/null

mlflow-image: engine  ## the MLflow tracking server's image (infra/Dockerfile.mlflow)
	bash infra/build.sh mlflow > /dev/null

serving-image: engine  ## the model server's image (infra/Dockerfile.serving: MLServer, `mlserver start /mnt/models`)
	bash infra/build.sh serving > /dev/null

images: image mlflow-image serving-image

serve: setup serving-setup  ## serve the champion over the Open Inference Protocol (mtst serve; MODEL=REF serves another)
	$(BIN)/mtst serve $(if $(MODEL),--model $(MODEL))

ui: setup  ## the MLflow UI on http://127.0.0.1:5000 over the project's store (mlflow.db + mlartifacts/)
	$(BIN)/mtst ui --host 127.0.0.1 --port $(or $(UI_PORT),5000)

lock:  ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .cache/lockenv && $(PYTHON) -m venv .cache/lockenv
	.cache/lockenv/bin/pip install --quiet ".[dev]"
	(.cache/lockenv/bin/pip freeze --exclude-editable | grep -v '^mtst' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; \
	 .cache/lockenv/bin/pip freeze --all | grep '^setuptools==') > requirements.lock.tmp
	.cache/lockenv/bin/python infra/lock.py --lock requirements.lock.tmp --cuda-lock infra/requirements-cuda.lock
	.cache/lockenv/bin/python infra/lock.py --server mlflow
	.cache/lockenv/bin/python infra/lock.py --server serving --lock requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

OUTPUTS := artifacts metrics reports plots
STORE   := mlflow.db mlruns mlartifacts

clean:  ## remove what the pipeline wrote under $(OUTPUTS); tracked files (git ls-files) and the MLflow store stay
	@git rev-parse --is-inside-work-tree > /dev/null 2>&1 || { echo "make clean: not a git checkout, so tracked files \
	in $(OUTPUTS) cannot be told from outputs; remove what you mean to yourself" >&2; exit 2; }
	git clean -fdxq -- $(OUTPUTS)

clean-store:  ## delete the local MLflow store ($(STORE)): every run and registered model; needs CONFIRM=yes
	@test "$(CONFIRM)" = yes || { echo "make clean-store deletes every MLflow run and registered model in $(STORE); \
	to do that, run: make clean-store CONFIRM=yes" >&2; exit 2; }
	rm -rf $(STORE)
