# heldout: two commands from a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := torch,models,dedup,release,demo,postgres,s3,web,mturk,test
# constraints.txt pins every dependency to versions known to work together: without it pip
# backtracks for minutes between boto3 and aiobotocore's narrow botocore range.
# Debian packages the project uses (installed with apt-get when root).
APT_PACKAGES := postgresql dataset-fashion-mnist chromium
TEST_TIMEOUT ?= 20m

.PHONY: setup demo test bench lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile constraints.txt
	@if [ -n "$(APT_PACKAGES)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); }; \
	  else \
	    echo "setup: not root, skipping apt-get install of: $(APT_PACKAGES) (install them yourself; tests that need them will say so)"; \
	  fi; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "torch==2.13.0"
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: setup
	$(BIN)/heldout demo

test: setup lint
	timeout --foreground $(TEST_TIMEOUT) $(BIN)/pytest --durations=20

bench: setup
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS),bench]"
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

format: setup
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
