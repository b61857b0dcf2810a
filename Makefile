# modelship: `make demo` runs the pipeline on the bundled example model; `make test` runs the tests.
# Both set up what they need first (Debian packages, Docker engine, base image, virtualenv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_IMAGE ?= modelship/python-base:3.11-bookworm
# Multi-arch demo: make demo PLATFORMS=linux/amd64,linux/arm64 BASE_IMAGE='modelship/python-base:3.11-bookworm-{arch}'
PLATFORMS ?=
MODEL ?= examples/housing

.PHONY: setup demo test lint workflows examples registry-start registry-stop clean

$(BIN)/.installed: requirements/serving.txt requirements/pipeline.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	touch $@

# The locks (requirements/*.txt): exact versions and hashes of each set's whole closure, compiled
# from the hand-edited requirements/*.in. Serving first: the pipeline and dev locks keep its versions.
# An existing pin stays until its .in asks for another; LOCK_ARGS=--upgrade moves every pin.
# onnxruntime's dependencies the server never imports stay out of the image's lock (serving.in says why),
# and so does tokenizers' Hugging Face hub client with the packages only it needs.
.PHONY: locks
SERVING_UNUSED := flatbuffers packaging protobuf huggingface-hub filelock fsspec hf-xet httpcore2 httpx2 pyyaml tqdm truststore
LOCK_ARGS ?=
LOCK_COMPILER ?= $(BIN)/pip-compile
LOCK = CUSTOM_COMPILE_COMMAND="make locks" $(LOCK_COMPILER) --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

locks: $(BIN)/.installed
	$(LOCK) $(SERVING_UNUSED:%=--unsafe-package=%) -o requirements/serving.txt requirements/serving.in
	$(LOCK) --allow-unsafe -o requirements/pip.txt requirements/pip.in
	$(LOCK) --allow-unsafe -o requirements/pipeline.txt requirements/pipeline.in
	$(LOCK) --allow-unsafe -o requirements/dev.txt requirements/dev.in
	$(LOCK) --allow-unsafe -o bench/requirements.txt bench/requirements.in

setup: $(BIN)/.installed
	tools/setup-machine

demo: setup
	eval "$$(MODELSHIP_REGISTRY_PORT="$(MODELSHIP_REGISTRY_PORT)" tools/local-registry start)" && \
	eval "$$(tools/demo-grype-db)" && \
	REGISTRY_PASSWORD="$$MODELSHIP_TEST_REGISTRY_PASSWORD" $(BIN)/python -m scripts.pipeline \
		--source local --model $(MODEL) --dest .modelship/model \
		--image-name "$$MODELSHIP_TEST_REGISTRY/modelship/$(notdir $(MODEL))" \
		--base-image '$(BASE_IMAGE)' $(if $(PLATFORMS),--platforms $(PLATFORMS)) \
		--username "$$MODELSHIP_TEST_REGISTRY_USER"

test: setup
	$(BIN)/python -m pytest

lint: workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

examples: $(BIN)/.installed
	$(BIN)/python -m examples.generate

registry-start:
	@tools/local-registry start

registry-stop:
	@tools/local-registry stop

clean:
	rm -rf .modelship .wheelhouse $(VENV)

# Benchmarks (bench/README.md): MLflow and the comparison servers live in their own venv, bench/.venv.
# BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS=--quick`.
.PHONY: bench
BENCH_ARGS ?=

bench/.venv/.installed: bench/requirements.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r bench/requirements.txt
	touch $@

bench: setup bench/.venv/.installed
	bench/.venv/bin/python -m bench $(BENCH_ARGS)

# Offline checks of every workflow and action: GitHub's schemas, then zizmor (medium and above).
workflows: $(BIN)/.installed
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions action.yml actions/*/action.yml
	$(BIN)/zizmor --offline --min-severity medium action.yml actions/ .github/workflows/ workflows/*.yml
