# Two entry points, each doing its own setup:  `make run` (the workflow on the embedded default)
# and `make test` (the test suite). Both create .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup run test lint browser

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

# Debian's chromium for the feature-browser test (skipped without a browser); needs root apt-get.
browser:
	bash tests/install_browser.sh
