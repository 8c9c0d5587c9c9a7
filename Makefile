# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_STAMP := $(VENV)/.llamacpp-built
export CMAKE_ARGS := -DGGML_NATIVE=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test install campaign bench clean

.DEFAULT_GOAL := demo
include mk/vllm.mk

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# llama-cpp-python has no wheel here: build it once into .venv (about 5 minutes), never per test.
$(LLAMA_STAMP): | $(BIN)/python
	@echo ">> building llama-cpp-python once (CMAKE_ARGS=$(CMAKE_ARGS), ~5 min)"
	$(BIN)/pip install -q "llama-cpp-python==0.3.36"
	touch $@

$(STAMP): pyproject.toml $(LLAMA_STAMP) | $(BIN)/python
	$(BIN)/pip install -q -e ".[all]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/enginebugs demo

# The vLLM CPU worker lives in its own venv (.venv-vllm, ~2-3 min once); CI runs its oracles too.
test: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python -m pytest -q

campaign: $(STAMP)
	$(BIN)/enginebugs difftest campaign --model gemma3-270m --html reports-out/gemma3

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache build *.egg-info
