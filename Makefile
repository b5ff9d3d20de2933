# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast test-inprocess lint fmt docs reference debian wrk bench soak lock image-test schema vendor-assets clean

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "codedeploy-gateway needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@# Debian splits venv out of python3; install it when we may.
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && apt-get update -qq \
		&& apt-get install -y -qq python3-venv && $(PYTHON) -m venv --clear $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# Exactly what was tested: every version pinned, every file checked against its hash.
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# `make run PORT=9000` for another port.
run: install
	$(BIN)/python -m service --local $(if $(PORT),--port $(PORT))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# What the browser, npm-client and fleet tests drive, from Debian: Chromium, Node with npm
# (graphql-ws, graphql-sse, Apollo), redis-server. Installed once, as root, saying so first;
# without root those tests skip.
debian:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "not root, so not installing$$missing: the tests that need them will be skipped"; \
		exit 0; fi; \
	echo "make test: installing Debian packages as root (once):$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

# Both cores (pytest-xdist), with the coverage floor of pyproject.toml.
test: lint debian docs
	$(BIN)/pytest -n 2 -p no:cacheprovider --cov --cov-report=term

# Everything that needs no browser, Docker, kubectl, npm or fuzzing.
test-fast: install
	$(BIN)/pytest -n 2 -p no:cacheprovider -m "not browser and not fuzz and not kubectl and not npm"

# The inner loop: only what runs inside the test process (no gateway, redis-server, Node,
# AWS CLI or browser started).
test-inprocess: install
	$(BIN)/pytest -n 2 -p no:cacheprovider -m "not processes"

# The site, into site/; a warning (a broken link, a page left out) fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Regenerates docs/reference/ and the guides' contract snippets from the code (a test fails
# while they are stale).
reference: install
	$(BIN)/python -m scripts.reference

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# wrk from Debian drives the load: a Python client on 2 cores would measure itself.
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "make bench needs wrk (Debian: apt-get install wrk)"; exit 1; }

bench: install wrk
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run $(if $(BENCH_SECONDS),--seconds $(BENCH_SECONDS))

soak: install
	$(BIN)/python -m bench.soak --seconds $(or $(SOAK_SECONDS),300)

# Builds and runs the image on a private Docker engine (root; see scripts/image-test.sh).
image-test:
	scripts/image-test.sh

# Re-pin after changing pyproject.toml's dependencies: requirements.lock for the image,
# requirements-dev.lock for make. Both for Python 3.11, with hashes.
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --output-file requirements-dev.lock pyproject.toml

schema: install
	$(BIN)/strawberry export-schema service.graphql.schema:schema --output schema.graphql
	$(BIN)/python -m scripts.contract export

vendor-assets: install
	PYTHON=$(BIN)/python scripts/vendor-assets.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
