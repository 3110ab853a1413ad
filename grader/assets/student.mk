# Grade your layer: `make grade` (public checks). `make setup` installs what the grader needs.
PYTHON ?= python3
SUBMISSION ?= .
unexport PYTHONDONTWRITEBYTECODE

.PHONY: grade setup
grade:
	@$(PYTHON) -m grader grade $(SUBMISSION) --rubric rubric.yaml

setup:
	$(PYTHON) -m pip install -r requirements.txt
