# The two commands of the course: `make lab` and `make test`. Both set up .venv first if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_ENV := COURSE_MODE=smoke COURSE_DEVICE=cpu MPLBACKEND=module://matplotlib_inline.backend_inline
LAB_PORT ?= 8888
# Test processes (pytest-xdist): one per core by default; `make test JOBS=1` runs everything in one process.
JOBS ?= auto
# Each test process and notebook kernel uses one thread: JOBS processes share the cores instead of oversubscribing them.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# JupyterLab on this machine only (127.0.0.1), with a token in the printed URL; `make test-browser` starts the
# same server (on a free port, with a token of its own).
LAB := $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
	$(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True)

.PHONY: lab test models unit notebooks data preflight test-browser lecture-check skeletons check-skeletons clean

lab: $(STAMP)  ## set up (once) and open the course in JupyterLab
	$(BIN)/python -m course_utils.preflight lab
	$(LAB) --ServerApp.port=$(LAB_PORT)

test: $(STAMP)  ## set up (once) and run the whole test suite: unit tests, then every notebook under nbval
	$(BIN)/python -m course_utils.preflight test
	$(MAKE) --no-print-directory models unit notebooks

data: $(STAMP)  ## download every dataset the notebooks use into COURSE_DATA_DIR (default data/), once
	$(BIN)/python -m course_utils.data.fetch

preflight: $(STAMP)  ## check the environment, the cache and the datasets as `make test` does, and stop
	$(BIN)/python -m course_utils.preflight test

test-browser: $(STAMP)  ## notebooks 01 and 02 in JupyterLab in Chromium: the widgets render and react
	$(BIN)/python -m course_utils.preflight test
	LAB_COMMAND="$(LAB)" $(NOTEBOOK_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

models: $(STAMP)  ## train (once) and cache the two scoring networks every test process then loads
	$(BIN)/python -m course_utils.models.cache

unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n $(JOBS) tests --ignore=tests/browser

notebooks: $(STAMP)  ## both variants of every notebook, in smoke mode on the CPU
	$(TEST_ENV) $(NOTEBOOK_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile \
		--nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 \
		--nbval-kernel-startup-timeout 120 notebooks/solutions notebooks/exercises

lecture-check: $(STAMP)  ## every solution notebook in COURSE_MODE=lecture: wall and CPU time (benchmarks/notebooks.json)
	COURSE_MODE=lecture $(BIN)/python -m course_utils.preflight lab
	$(BIN)/python scripts/time_notebooks.py --mode lecture

skeletons: $(STAMP)  ## regenerate notebooks/exercises from notebooks/solutions
	$(BIN)/python tools/authoring.py

check-skeletons: $(STAMP)
	$(BIN)/python tools/authoring.py --check

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) data/cache artifacts
