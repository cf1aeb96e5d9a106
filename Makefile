# jdl: two commands set everything up (see README.md).
#   make demo          create/reuse .venv, install jdl, get Fashion-MNIST if possible, train the quickstart CNN
#   make test          create/reuse .venv, install jdl with its test tools, run the test suite
#   make test-compat   the same on the oldest supported combination (Python 3.11, JAX 0.10, the
#                      lower bounds of pyproject.toml pinned by .ci/oldest.txt), in .venv-py311
#
# The interpreter: the newest Python on this machine that the newest JAX supports, found by
# .ci/pick-python (3.13, then 3.12, else python3). pip gives JAX 0.12 there but only JAX 0.10
# on Python 3.11, and conv nets train about 38% faster on 0.12. `make PYTHON=/path/to/python`
# overrides the choice.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell .ci/pick-python)
PYTHON_CHOSEN_BY := .ci/pick-python
else
PYTHON_CHOSEN_BY := PYTHON=$(PYTHON)
endif
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV        ?= .venv
CONSTRAINTS ?=
PY          := $(VENV)/bin/python
# one stamp per Python version: a venv left by another version is made anew
STAMP       := $(VENV)/.jdl-installed-py$(PYTHON_VERSION)
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-all test-compat venv data clean which-python

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -n "$(PYTHON_VERSION)" || { echo "jdl: the interpreter '$(PYTHON)' does not run"; exit 1; }
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYTHON_VERSION)" ]; then \
		echo "jdl: $(VENV) was made with another Python; making it anew with $(PYTHON_VERSION)"; rm -rf $(VENV); fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	@rm -f $(VENV)/.jdl-installed*; touch $(STAMP)

# Says which interpreter and JAX the venv runs (the demo and the tests print it too).
venv: $(STAMP)
	@$(PY) -c "import sys, jax; print(f'jdl: Python {sys.version.split()[0]} with JAX {jax.__version__} in $(VENV) (interpreter chosen by $(PYTHON_CHOSEN_BY): {sys.base_prefix})')"

which-python:
	@echo $(PYTHON)

# Debian's dataset-fashion-mnist puts the IDX files in $(FASHION_DIR); the word lists (w*) and
# fortunes give the text tasks of the sequence models (/usr/share/dict, /usr/share/games/fortunes).
# Install what is missing when we are root with apt-get; otherwise explain. Without
# Fashion-MNIST the demo trains on sklearn's digits.
TEXT_PACKAGES := wamerican wngerman wfrench witalian wspanish wdutch fortunes
data:
	@if [ -d "$(FASHION_DIR)" ] || { [ -n "$$JDL_DATA_DIR" ] && [ -d "$$JDL_DATA_DIR/fashion-mnist" ]; }; then \
		echo "Fashion-MNIST: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
		echo "Fashion-MNIST: apt-get failed; the demo will use the digits dataset"; \
	else \
		echo "Fashion-MNIST not found. Install it with 'sudo apt-get install dataset-fashion-mnist'"; \
		echo "or put the four IDX files (train-images-idx3-ubyte.gz, ...) in \$$JDL_DATA_DIR/fashion-mnist."; \
		echo "Meanwhile the demo trains on scikit-learn's bundled digits dataset."; \
	fi
	@if [ -f /usr/share/dict/ngerman ] && [ -f /usr/share/games/fortunes/fortunes ]; then \
		echo "word lists and fortunes: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "word lists and fortunes: installing $(TEXT_PACKAGES)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(TEXT_PACKAGES) >/dev/null 2>&1 || \
		echo "word lists and fortunes: apt-get failed (only the sequence-model experiments need them)"; \
	else \
		echo "Text corpora not found (only the sequence-model experiments need them): install them"; \
		echo "with 'sudo apt-get install $(TEXT_PACKAGES)', or copy them to \$$JDL_DATA_DIR/dict and \$$JDL_DATA_DIR/fortunes."; \
	fi

demo: venv data
	$(PY) experiments/quickstart.py

# The suite is dominated by XLA compilation, one core each: two workers (pytest-xdist) use both
# cores of the 2-core CI machine; whole files go to one worker so module fixtures run once.
# JDL_PICKED_PYTHON lets tests/test_toolchain.py check that the venv runs the chosen interpreter.
TEST_WORKERS ?= 2
PYTEST_ENV := JDL_PICKED_PYTHON='$(PYTHON)' JDL_PYTHON_CHOSEN_BY='$(PYTHON_CHOSEN_BY)'

test: venv
	$(PYTEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-all: venv
	$(PYTEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m ""

# The oldest supported combination, run before each release: Python 3.11 with the lower
# bounds of pyproject.toml (JAX 0.10.0, Flax 0.12.0, ...), in a venv of its own.
test-compat:
	$(MAKE) test VENV=.venv-py311 PYTHON="$$(.ci/pick-python 3.11)" CONSTRAINTS=.ci/oldest.txt

clean:
	rm -rf $(VENV) .venv-py311 results .pytest_cache *.egg-info
