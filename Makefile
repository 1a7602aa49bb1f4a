# The two commands of the README: `make demo` and `make test`. Each sets itself up.
PY := .venv/bin/python

.PHONY: setup demo test bench clean
setup: .venv/.stamp

.venv/.stamp: pyproject.toml scripts/setup.sh
	scripts/setup.sh
	touch $@

demo: setup
	OPENBLAS_NUM_THREADS=1 $(PY) -m lmerpy.demo

test: setup
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run.py --report

clean:
	rm -rf .venv build *.egg-info
