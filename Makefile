# Every verb of the grader, for course staff. Students get their own Makefile in the handout archive.
PYTHON ?= python3
SUBMISSION ?= handout
ONLY ?=
RUBRIC ?= rubric.yaml
VENV ?= .venv
# cached bytecode is part of what makes `make grade` fast
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

SUBMISSIONS ?= submissions
OUT ?= out
N ?= 500

.PHONY: grade test test-fast vectors handout rubric bench bench-batch batch gradescope setup clean

## grade SUBMISSION (default: handout/) with RUBRIC
grade: setup
	@$(PY) -m grader grade $(SUBMISSION) --rubric $(RUBRIC) $(if $(ONLY),--only $(ONLY))

## run the whole test suite
test: setup
	$(PY) -m pytest -q

## the test suite without slow tests
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

## regenerate the test vectors from reference/
vectors: setup
	$(PY) -m grader vectors --rubric $(RUBRIC)

## regenerate handout/ from reference/ and build dist/handout.tar.gz
handout: setup
	$(PY) -m grader handout --rubric $(RUBRIC)

## grade every folder/archive in SUBMISSIONS into OUT (gradebook.csv, summary.html, <id>/)
batch: setup
	$(PY) -m grader batch $(SUBMISSIONS) --out $(OUT) --rubric $(RUBRIC)

## build dist/autograder.zip for Gradescope
gradescope: setup
	$(PY) -m grader gradescope --rubric $(RUBRIC)

rubric: setup
	$(PY) -m grader rubric --rubric $(RUBRIC)

## grade latency against `python -c "import numpy"`
bench: setup
	$(PY) -m grader.bench grade --rubric $(RUBRIC)

## batch throughput against one `grade` process per submission, and peak memory
bench-batch: setup
	$(PY) -m grader.bench batch --rubric $(RUBRIC) --n $(N)

# Use the machine's Python when it already has the dependencies; otherwise make a venv once.
PY := $(shell $(PYTHON) -c "import numpy, yaml, jinja2, pytest, tqdm, distributed" 2>/dev/null && echo $(PYTHON) || echo $(VENV)/bin/python)

setup: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/.installed)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[test,dask]'
	touch $@

clean:
	rm -rf $(VENV) dist .pytest_cache
