# Every verb of the grader, for course staff. Students get their own Makefile in the handout archive.
PYTHON ?= python3
SUBMISSION ?= handout
RUBRIC ?= rubric.yaml
VENV ?= .venv
# cached bytecode is part of what makes `make grade` fast
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: grade test test-fast vectors handout rubric bench setup clean

## grade SUBMISSION (default: handout/) with RUBRIC
grade: setup
	@$(PY) -m grader grade $(SUBMISSION) --rubric $(RUBRIC)

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

rubric: setup
	$(PY) -m grader rubric --rubric $(RUBRIC)

## grade latency against `python -c "import numpy"`
bench: setup
	$(PY) -m grader.bench grade --rubric $(RUBRIC)

# Use the machine's Python when it already has the dependencies; otherwise make a venv once.
PY := $(shell $(PYTHON) -c "import numpy, yaml, jinja2, pytest" 2>/dev/null && echo $(PYTHON) || echo $(VENV)/bin/python)

setup: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/.installed)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) dist .pytest_cache
