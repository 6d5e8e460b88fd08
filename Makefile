# The verbs a developer types every day. Each one goes through dev.py, which needs only Python 3.11+.
PY ?= python3

.PHONY: run test lint shell bench ci
run:
	$(PY) dev.py run
test:
	$(PY) dev.py test
shell:
	$(PY) dev.py manage shell
lint:
	$(PY) dev.py setup && .venv/bin/ruff check . && .venv/bin/ruff format --check .
bench:
	$(PY) dev.py bench
ci:
	bash .ci/run
