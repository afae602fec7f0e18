# genozoo: `make demo` and `make test` bootstrap .venv on a fresh machine; everything else assumes it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch first, pinned: the CPU wheel lies on disk here, and an unpinned torch pulled in later would be a CUDA build.
TORCH ?= torch==2.13.0
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export PYTHONUNBUFFERED := 1

.PHONY: install demo test bench docker-smoke clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[all]"
	$(PY) -m compileall -q zoo  # bytecode even where PYTHONDONTWRITEBYTECODE is set: 70 ms of every start-up
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install genozoo with every extra

demo: $(STAMP)  ## the Gradio space on http://127.0.0.1:7860 with the bundled baselines, offline, no analytics
	HF_HUB_OFFLINE=1 $(VENV)/bin/genozoo space --host 127.0.0.1 --port 7860

test: $(STAMP)  ## run the test suite
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)  ## run the speed and memory benchmarks in bench/
	$(PY) -m compileall -q zoo
	for f in bench/*.py; do $(PY) $$f || exit 1; done

docker-smoke: $(STAMP)  ## build the image with podman from a local base, run it, predict, stop it with SIGTERM
	PY=$(PY) docker/smoke.sh

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
