# The two commands a new user needs: `make demo` and `make test`.
.PHONY: setup demo test test-rapido bench clean

setup:
	bash scripts/setup.sh

## Runs the portal: own PostGIS cluster, real territory, synthetic households, API on :8000.
demo: setup
	.venv/bin/geoportal demo

## Runs the whole test suite against a real PostGIS, HTTP server and browser: one worker
## per core (pytest-xdist), each with its own throwaway cluster; a test file stays on one worker.
test:
	GEOPORTAL_SETUP_BROWSER=1 bash scripts/setup.sh
	.venv/bin/python -m pytest -q -n auto --dist loadfile

## Only the tests that need no database (tests/sin_base, seconds): catalogs, CSV, access-log redaction, import contracts...
test-rapido: setup
	.venv/bin/python -m pytest -q tests/sin_base -m "not lento"

bench: setup
	.venv/bin/pip install -q -e '.[bench]'
	.venv/bin/python bench/ingesta.py
	.venv/bin/python bench/calculo.py

clean:
	-.venv/bin/geoportal db down
	rm -rf .geoportal
