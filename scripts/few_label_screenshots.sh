#!/usr/bin/env bash
# README screenshots of the few-label workflow from a real QGIS desktop window under Xvfb.
#   bash scripts/few_label_screenshots.sh [run folder of few_label_experiment.py] [image folder]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$(realpath "${1:-runs/few_label}")
SHOTS=$(realpath -m "${2:-docs/img}")
FEW_LABEL_RUN="$RUN" SHOT_DIR="$SHOTS" FEW_LABEL_ENCODER="$(pwd)/models/moco_eurosat_encoder.onnx" \
  bash scripts/qgis_desktop.sh scripts/few_label_screenshots.py
for shot in train_dialog dense_map accuracy_table; do
  test -s "$SHOTS/few_label_$shot.png" || { echo "[screenshots] missing few_label_$shot.png" >&2; exit 1; }
done
ls -l "$SHOTS"/few_label_*.png
