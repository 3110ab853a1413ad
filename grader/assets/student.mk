# Grade your layer: `make grade` (public checks). The first run installs what the grader needs
# into .venv/ if your Python lacks numpy, pyyaml or jinja2.
PYTHON ?= python3
SUBMISSION ?= .
VENV ?= .venv
unexport PYTHONDONTWRITEBYTECODE
PY := $(shell $(PYTHON) -c "import numpy, yaml, jinja2" 2>/dev/null && echo $(PYTHON) || echo $(VENV)/bin/python)

.PHONY: grade setup
grade: setup
	@$(PY) -m grader grade $(SUBMISSION) --rubric rubric.yaml

setup: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/.installed)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	touch $@
