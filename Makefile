# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install, start the app on http://127.0.0.1:7860
#   make test   create .venv, install, install Debian's chromium and Fashion-MNIST if missing, run the test suite
#               (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser dataset run test bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python app.py

# the real-browser test needs Debian's chromium: installed here, and required (a skip would fail)
browser:
	@command -v chromium >/dev/null 2>&1 || bash tools/install-chromium.sh

# Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist), unless DIFFEM_FASHION_MNIST points at a copy
FASHION_MNIST ?= $(or $(DIFFEM_FASHION_MNIST),/usr/share/datasets/fashion-mnist)
dataset:
	@test -f $(FASHION_MNIST)/t10k-images-idx3-ubyte.gz || bash tools/apt-install.sh dataset-fashion-mnist
	@test -f $(FASHION_MNIST)/t10k-images-idx3-ubyte.gz || { echo "Fashion-MNIST is still missing at $(FASHION_MNIST)" >&2; exit 1; }

test: setup browser dataset
	HF_HUB_OFFLINE=1 DIFFEM_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=10

# Benchmarks only: azula is the peer MMPS implementation we compare against (not a dependency).
bench: setup
	$(BIN)/python -m pip install -q --no-deps azula==0.11.1 einops
	$(BIN)/python -m pip install -q matplotlib
	cd benchmarks && ../$(BIN)/python sampler_cost.py
	$(BIN)/python benchmarks/manifold.py

clean:
	rm -rf $(VENV) .pytest_cache
