# jdl: two commands set everything up (see README.md).
#   make demo   create/reuse .venv, install jdl, get Fashion-MNIST if possible, train the quickstart CNN
#   make test   create/reuse .venv, install jdl with its test tools, run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.jdl-installed
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-all venv data clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian's dataset-fashion-mnist puts the IDX files in $(FASHION_DIR). Install it when we are
# root with apt-get; otherwise explain. Without the files the demo trains on sklearn's digits.
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

demo: venv data
	$(PY) experiments/quickstart.py

# The suite is dominated by XLA compilation, one core each: two workers (pytest-xdist) use both
# cores of the 2-core CI machine; whole files go to one worker so module fixtures run once.
TEST_WORKERS ?= 2

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-all: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m ""

clean:
	rm -rf $(VENV) results .pytest_cache *.egg-info
