# The two commands of the course: `make lab` and `make test`. Both set up .venv first if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_ENV := COURSE_MODE=smoke COURSE_DEVICE=cpu MPLBACKEND=module://matplotlib_inline.backend_inline

.PHONY: lab test unit notebooks skeletons check-skeletons clean

lab: $(STAMP)  ## set up (once) and open the course in JupyterLab
	$(BIN)/jupyter lab notebooks/

test: $(STAMP)  ## set up (once) and run the whole test suite: unit tests, then every notebook under nbval
	$(MAKE) --no-print-directory unit notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

notebooks: $(STAMP)  ## both variants of every notebook, in smoke mode on the CPU
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 \
		--nbval-kernel-startup-timeout 120 notebooks/solutions notebooks/exercises

skeletons: $(STAMP)  ## regenerate notebooks/exercises from notebooks/solutions
	$(BIN)/python tools/authoring.py

check-skeletons: $(STAMP)
	$(BIN)/python tools/authoring.py --check

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) data/cache
