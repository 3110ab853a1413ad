# Grade your layer: `make grade` (public checks), the same as `python3 grade.py`. The first run
# installs what the grader needs into .venv/ if your Python lacks numpy, pyyaml or jinja2.
PYTHON ?= python3
unexport PYTHONDONTWRITEBYTECODE

.PHONY: grade
grade:
	@$(PYTHON) grade.py $(if $(ONLY),--only $(ONLY)) $(ARGS)
