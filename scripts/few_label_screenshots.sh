#!/usr/bin/env bash
# README screenshots of the few-label workflow from a real QGIS desktop window under Xvfb.
#   bash scripts/few_label_screenshots.sh [run folder of few_label_experiment.py] [image folder]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$(realpath "${1:-runs/few_label}")
SHOTS=$(realpath -m "${2:-docs/img}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$SHOTS" "$WORK/plugins" "$WORK/config/profiles/default/QGIS"
cp -r qgis_csp_plugin "$WORK/plugins/" && cp metadata.txt "$WORK/plugins/qgis_csp_plugin/"
printf '[PythonPlugins]\nqgis_csp_plugin=true\n' > "$WORK/config/profiles/default/QGIS/QGIS3.ini"
SITE=$(.venv/bin/python -c 'import site; print(":".join(site.getsitepackages()))')
FEW_LABEL_RUN="$RUN" SHOT_DIR="$SHOTS" SHOT_WORK="$WORK" FEW_LABEL_ENCODER="$(pwd)/models/moco_eurosat_encoder.onnx" \
  QGIS_PLUGINPATH="$WORK/plugins" QGIS_CUSTOM_CONFIG_PATH="$WORK/config" PYTHONPATH="$WORK/plugins:$SITE" \
  timeout 600 xvfb-run -a -s "-screen 0 1600x1000x24" \
  qgis --nologo --noversioncheck --code scripts/few_label_screenshots.py \
  || echo "[screenshots] QGIS exited with status $? (QGIS 3.40 may abort while quitting under Xvfb)"
for shot in train_dialog dense_map accuracy_table; do
  test -s "$SHOTS/few_label_$shot.png" || { echo "[screenshots] missing few_label_$shot.png" >&2; exit 1; }
done
ls -l "$SHOTS"/few_label_*.png
