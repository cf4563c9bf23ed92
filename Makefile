# Build and test the cstr book.  GNU make, bash.
#
#   make book   install into .venv, execute every chapter (full mode),
#               build the HTML book into _build/html
#   make test   install, unit tests, every chapter in quick mode, and the
#               book build with warnings as errors
#   make clean  remove _build and the executed notebooks

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JB := $(VENV)/bin/jupyter-book
JB_FLAGS := -W -n --keep-going

.PHONY: help venv book test clean

help:
	@echo "make book   - install, execute every chapter (full mode), build _build/html"
	@echo "make test   - install, unit tests, chapters in quick mode, book build with -W"
	@echo "make clean  - remove _build and executed notebooks"

$(VENV)/.installed: requirements.txt pyproject.toml
	if [ ! -x "$(PY)" ]; then python3 -m venv "$(VENV)"; fi
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -e .
	touch "$@"

venv: $(VENV)/.installed

book: venv
	$(PY) scripts/run_chapters.py --mode full
	rm -rf _build/html
	$(JB) build . $(JB_FLAGS)

test: export OMP_NUM_THREADS := 1
test: export MPLBACKEND := Agg
test: venv
	$(PY) -m pytest -q
	$(PY) scripts/run_chapters.py --mode quick
	rm -rf _build/html
	$(JB) build . $(JB_FLAGS)

clean:
	rm -rf _build
	rm -f notebooks/*.ipynb
