# vLLM worker environment (included by the Makefile): `make vllm-env` builds .venv-vllm once.
# The CPU build of vLLM pins torch/transformers versions the main .venv does not use, so it has its
# own environment; tests and `difftest run --engines vllm` skip vLLM with the reason when it is absent.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.vllm-env-built

.PHONY: vllm-env vllm-env-gpu

$(VLLM_STAMP): difftest/engines/vllm_env.sh
	PY=$(PY) VLLM_VENV=$(CURDIR)/$(VLLM_VENV) bash difftest/engines/vllm_env.sh cpu

vllm-env: $(VLLM_STAMP)

# On a CUDA machine: the official wheel through the same adapter (unverified here: no GPU).
vllm-env-gpu:
	PY=$(PY) VLLM_VENV=$(CURDIR)/$(VLLM_VENV) bash difftest/engines/vllm_env.sh gpu
