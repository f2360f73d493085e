#!/usr/bin/env bash
# The README's demo command: set everything up, then run the end-to-end demo headless.
#   bash scripts/demo.sh             # uses the default models in models/
#   bash scripts/demo.sh --retrain   # re-trains the default models first (CPU, ~20 min)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = "--retrain" ]; then
  bash scripts/train_default_models.sh
fi
exec .venv/bin/python scripts/demo.py "$@"
