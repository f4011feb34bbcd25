# nst-kit: `make lab` opens the lessons, `make test` runs every test and notebook.
# Both create the Python environment on first use and reuse it afterwards.

PYTHON   ?= python3
VENV     ?= $(HOME)/.cache/nst-kit/venv
PY       := $(VENV)/bin/python
# The environment holds only the dependencies; nstlib itself is imported from this checkout,
# so several clones can share one environment without stepping on each other.
DEPS_ID  := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
STAMP    := $(VENV)/.nst-kit-deps-$(DEPS_ID)
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: lab test test-fast setup bench fetch-weights clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing nst-kit's dependencies into $(VENV) (first time: a few minutes)..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $$($(PY) .ci/deps.py lab test)
	@rm -f $(VENV)/.nst-kit-deps-* && touch $@

# Jupyter refuses to run as root unless told; containers and fresh VMs often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

test: $(STAMP)
	bash .ci/browser-deps.sh $(PY)
	NSTLIB_QUICK=1 NSTLIB_WEIGHTS=random MPLBACKEND=Agg $(PY) -m pytest tests notebooks \
		--nbval-lax --durations=15 -p no:cacheprovider

test-fast: $(STAMP)
	NSTLIB_QUICK=1 NSTLIB_WEIGHTS=random MPLBACKEND=Agg $(PY) -m pytest tests -m "not browser" -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m nstlib.bench

fetch-weights: $(STAMP)
	$(PY) -m nstlib fetch-weights

clean-venv:
	rm -rf $(VENV)
