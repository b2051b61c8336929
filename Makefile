# modelhub: `make run` starts everything on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: run test install install-test admin lint schema bench clean lock protos
REQS := requirements
UV_VERSION := 0.13.9

$(PY):
	$(PYTHON) -m venv $(VENV)

# Everything is installed from the lock files (exact versions + hashes, `make lock` regenerates them), so an
# upstream release never changes behaviour without a commit of ours.
$(VENV)/.installed: $(REQS)/base.txt pyproject.toml | $(PY)
	$(PIP) install -q --require-hashes -r $(REQS)/base.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(REQS)/test.txt $(REQS)/models.txt $(VENV)/.installed
	$(PIP) install -q --require-hashes -r $(REQS)/test.txt
	# Only the model files of these packages are used: --no-deps keeps PyTorch & co. out.
	$(PIP) install -q --require-hashes --no-deps -r $(REQS)/models.txt
	touch $@

# Regenerate the lock files from pyproject.toml (needs PyPI). The runtime lock is constrained by the test lock
# (a subset of it), so `make run` and `make test` run the same versions, and the test clients (tritonclient,
# ovmsclient) take part in choosing shared libraries such as protobuf.
lock: | $(PY)
	$(PIP) install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
		pyproject.toml $(REQS)/build.in --extra postgres --extra s3 --extra test -o $(REQS)/test.txt
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
		pyproject.toml $(REQS)/build.in --extra postgres --extra s3 -c $(REQS)/test.txt -o $(REQS)/base.txt
	$(VENV)/bin/uv pip compile -q --python-version 3.11 --generate-hashes --no-deps \
		tests/model-packages.txt -o $(REQS)/models.txt

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

.PHONY: bench-genai
bench-genai: install-test  # /v3 against openvino-genai in-process and a bare server (tiny models; --hidden 768 --layers 8 --embed-size minilm for realistic sizes)
	$(PY) benchmarks/genai.py

.PHONY: bench-grpc
bench-grpc: install-test  # needs h2load and wrk (apt-get install -y nghttp2-client wrk); makes benchmarks/.venv-kserve on first use
	$(PY) benchmarks/serving_grpc.py

# The documentation site (mkdocs.yml, docs/): built offline, every link and anchor checked (--strict).
.PHONY: docs docs-serve
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: install-test
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict -a 127.0.0.1:8001

protos: install  # regenerates inference/grpc/protos/*_pb2.py(i) from the .proto files next to them
	$(PIP) install -q -e '.[dev]'
	$(PY) -m inference.grpc.protos.generate

clean:
	rm -rf $(VENV) .pytest_cache
