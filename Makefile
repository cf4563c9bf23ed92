# Build and test the cstr book.  GNU make, bash.
#
#   make book   install into .venv, execute every chapter (full mode),
#               build the HTML book into _build/html
#   make test   install, ruff (lint and format), the import layers
#               (lint-imports), the API page up to date, unit tests, every
#               chapter in quick mode, the book build with warnings as
#               errors, then the browser test
#               (every page in headless Chromium; screenshots of every
#               chapter in artifacts/screenshots/)
#   make chromium  install Debian's chromium if /usr/bin/chromium is missing
#   make clean  remove _build, the executed notebooks and artifacts/

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JB := $(VENV)/bin/jupyter-book
JB_FLAGS := -W -n --keep-going
# The browser test drives Debian's chromium through the playwright package
# (never `playwright install`, which downloads a browser of its own).
CHROMIUM := /usr/bin/chromium
# What ruff checks and formats (configured in pyproject.toml); lint-imports checks cstr's layers.
LINTED := cstr tests scripts book/_ext

.PHONY: help venv chromium book test clean

help:
	@echo "make book   - install, execute every chapter (full mode), build _build/html"
	@echo "make test   - install, unit tests, chapters in quick mode, book build with -W, browser test"
	@echo "make chromium - install Debian chromium for the browser test (only if missing)"
	@echo "make clean  - remove _build, executed notebooks and artifacts/"

$(VENV)/.installed: requirements.txt pyproject.toml
	if [ ! -x "$(PY)" ]; then python3 -m venv "$(VENV)"; fi
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -e .
	touch "$@"

venv: $(VENV)/.installed

# Idempotent and instant when chromium is present; on a fresh CI machine
# (root, Debian) it installs the distribution's package (about 15 s).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "chromium: $(CHROMIUM) present"; \
	else \
	  SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends chromium; \
	fi

book: venv
	$(PY) scripts/run_chapters.py --mode full
	rm -rf _build/html
	$(JB) build . $(JB_FLAGS)

test: export OMP_NUM_THREADS := 1
test: export MPLBACKEND := Agg
test: venv chromium
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports
	$(PY) scripts/write_api_page.py --check
	$(PY) scripts/write_verdicts.py --check
	$(PY) -m pytest -q -m "not browser"
	$(PY) scripts/run_chapters.py --mode quick
	rm -rf _build/html
	$(JB) build . $(JB_FLAGS)
	$(PY) -m pytest -q -s -m browser tests/test_browser.py

# The paper's comparison from scratch (datasets, pi-tuned, every learned controller for
# the ten training seeds of cstr.seeds.TRAINING_SEEDS, evaluation of every controller);
# rewrites data/ and its manifest.
reproduce: export OMP_NUM_THREADS := 1
reproduce: venv
	$(PY) -m cstr reproduce --episodes 100

clean:
	rm -rf _build artifacts
	rm -f notebooks/*.ipynb
