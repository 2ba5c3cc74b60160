# Cadenza — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= var
PORT ?= 8000
SEED ?= 500
# More arguments for pytest: `make test PYTEST_ARGS="tests/deploy -x"`.
PYTEST_ARGS ?=

.PHONY: help install run test abuse faults autoscale cluster fuzz lint fmt bench generate docs image images compose-up compose-test k8s-render fresh-check clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@python3 -m venv $(TOOLS) || { rm -rf $(TOOLS); \
		echo "make: 'python3 -m venv' failed: install python3-venv (apt-get install python3-venv)" >&2; \
		exit 1; }
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Debian packages that PyPI cannot provide, checked without root (ldconfig is in /sbin, off a
# user's PATH): FluidSynth's library for render; Chromium for the web studio's browser tests
# (Debian's build, which Playwright drives, so no browser is downloaded; CI=1 fails without
# it); Node.js with npm for KEDA's CRD schema (the offline checks of k8s/). apt-get runs, as
# root or through sudo, only when one of them is missing.
FLUIDSYNTH_LIB := /usr/lib/libfluidsynth.so.3 /usr/lib/*-linux-gnu/libfluidsynth.so.3 \
	/usr/lib64/libfluidsynth.so.3 /usr/local/lib/libfluidsynth.so.3

install: $(UV) ## Install every package and tool into .venv (from uv.lock), apt packages if missing
	@missing=""; \
	ls $(FLUIDSYNTH_LIB) 2>/dev/null | grep -q . || missing="$$missing libfluidsynth3 fluidsynth"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "make: needs the Debian packages$$missing: run make as root, or with sudo" \
			"installed, or have someone run: apt-get install$$missing" >&2; exit 1; fi; \
		echo "apt-get install$$missing$${SUDO:+ (through sudo)}"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$$missing; \
	fi
	$(UV) sync --frozen --all-packages
	@# KEDA's CRD schema for the offline validation of k8s/ (tests/deploy/test_keda.py).
	@test -d $(TOOLS)/node/node_modules/@kubernetes-models/keda || \
		npm install --silent --no-audit --no-fund --prefix $(TOOLS)/node @kubernetes-models/keda@2.0.0
	@# librosa compiles its numba functions on first use (~30 s): do it once, cached in .venv.
	@test -f $(VENV)/.librosa-warm -a $(VENV)/.librosa-warm -nt uv.lock || \
		($(PY) -m cadenza.catalog.warmup && touch $(VENV)/.librosa-warm)

run: install ## Start the whole platform on embedded defaults at http://127.0.0.1:8000
	$(VENV)/bin/cadenza-dev up --data-dir $(DATA_DIR) --port $(PORT) --seed $(SEED)

test: install ## Run the test suite (starts its own nats-server, PostgreSQL and S3 server)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

abuse: install ## The abuse suite alone (one test per attack class), then its full-size benchmark
	$(VENV)/bin/pytest tests/abuse
	$(PY) -m bench.abuse

faults: install ## The fault suite alone (kill -9, restarts, poison) and kill -9 vs Celery
	$(VENV)/bin/pytest tests/faults -s
	$(PY) -m bench.kill_worker

# KEDA's nats-jetstream rule, read from k8s/base's ScaledObjects, scales the separation and
# render workers on the real consumer lag through a burst of jobs, at the manifests' real
# periods (about 15 min; AUTOSCALE_TIME_SCALE=20 divides them), writing docs/autoscaling.svg
# and .json; then the test of the same with every period divided by 20.
AUTOSCALE_TIME_SCALE ?= 1
autoscale: install ## A burst scales the workers 0 → N → 0 by KEDA's rule from k8s/ (docs/autoscaling.md), then its test
	$(PY) -m cadenza.devstack.autoscaler --time-scale $(AUTOSCALE_TIME_SCALE) \
		--data-dir $(DATA_DIR)/autoscale --out docs/autoscaling
	$(VENV)/bin/pytest --deployed tests/faults/test_autoscaling.py -s

# The whole platform on a 3-node JetStream cluster on loopback (streams at 3 replicas), the
# EFFECTS leader and then each node in turn killed (SIGKILL) under CLUSTER_JOBS jobs
# (docs/reliability.md).
cluster: install ## kill -9 NATS cluster nodes under 300 jobs: none lost or doubled (docs/reliability.md)
	$(VENV)/bin/pytest --deployed tests/faults/test_nats_cluster.py -s

fuzz: install ## A long schemathesis run of the whole API (FUZZ_EXAMPLES per operation, every check)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(VENV)/bin/pytest tests/e2e/test_api_fuzz.py \
		tests/e2e/test_api_conformance.py

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs services tools tests bench

fmt: install ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install ## Run the benchmarks (prints figures; see docs/benchmarks.md)
	$(PY) -m bench.run_all

generate: install ## Regenerate the client's vocabulary.py from libs/contracts (a test checks it)
	$(VENV)/bin/cadenza-gateway client-vocabulary > libs/client/src/cadenza/client/vocabulary.py

docs: install generate ## Regenerate docs/openapi.json and docs/asyncapi.json from the code (tests check both)
	$(VENV)/bin/cadenza-gateway openapi > docs/openapi.json
	$(VENV)/bin/cadenza-gateway asyncapi > docs/asyncapi.json

image: ## Build one service's image: make image SERVICE=gateway [TORCH_VARIANT=cu128] [CADENZA_TAG=dev]
	@test -n "$(SERVICE)" || { echo "make image SERVICE=<a folder of services/>"; exit 1; }
	@# Without a registry: PYTHON_IMAGE=cadenza-local-base:bookworm (tools/image/local_base.sh),
	@# TORCH_WHEELS=cadenza-torch-wheels:local (tools/image/torch_wheels.sh), BUILD_NETWORK=host.
	DOCKER_BUILDKIT=1 docker build --build-arg SERVICE=$(SERVICE) \
		$(if $(TORCH_VARIANT),--build-arg TORCH_VARIANT=$(TORCH_VARIANT)) \
		$(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) \
		$(if $(TORCH_WHEELS),--build-arg TORCH_WHEELS=$(TORCH_WHEELS)) \
		$(if $(BUILD_NETWORK),--network $(BUILD_NETWORK)) \
		-t cadenza-$(SERVICE):$(or $(CADENZA_TAG),dev)$(if $(filter cu%,$(TORCH_VARIANT)),-cuda) .

images: install ## Build every service's CPU image and run each as k8s/base runs it (Docker; root for the local base)
	$(VENV)/bin/pytest --deployed tests/deploy/test_images.py -s

compose-up: ## docker compose up --build -d (cp .env.example .env first; GPU=1 adds docker-compose.gpu.yml)
	@test -f .env || { echo "no .env: cp .env.example .env and set the passwords"; exit 1; }
	docker compose -f docker-compose.yml $(if $(GPU),-f docker-compose.gpu.yml) up --build -d

# Without a registry (this machine): the local base, the torch==2.13.0 wheel (uv.lock's pin)
# from /opt/wheels, which the Dockerfile installs with --no-index, every service's image
# (cached layers make a rebuild quick), the stand-ins; then docker-compose 1.29 up of the stack.
compose-test: install ## docker-compose up of the whole stack on loopback, the API smoke, a worker killed under 100 jobs (docs/deployment.md)
	tools/image/local_base.sh
	tools/image/torch_wheels.sh
	@for service in gateway effects separation catalog render composition; do \
		PATH=/usr/bin:$$PATH $(MAKE) --no-print-directory image SERVICE=$$service \
			PYTHON_IMAGE=cadenza-local-base:bookworm TORCH_WHEELS=cadenza-torch-wheels:local \
			BUILD_NETWORK=host || exit 1; \
	done
	$(VENV)/bin/pytest --deployed tests/deploy/test_compose_up.py -s

k8s-render: install ## Render every Kubernetes overlay to build/k8s/<overlay>.yaml (the venv's kubectl)
	@mkdir -p build/k8s
	@for overlay in k8s/overlays/*/; do \
		name=$$(basename $$overlay); \
		$(VENV)/bin/kubectl kustomize $$overlay > build/k8s/$$name.yaml && \
			echo "build/k8s/$$name.yaml" || exit 1; \
	done

fresh-check: ## On a new Debian bookworm root (debootstrap, as a sudo user): make test + a make run smoke; needs root
	tools/devstack/fresh-machine/check.sh $(FRESH_ARGS)

clean: ## Remove the virtualenv, tools and local data
	rm -rf $(VENV) $(TOOLS) $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache
