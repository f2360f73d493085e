#!/usr/bin/env bash
# Build the QGIS plugin zip for "Plugins > Manage and Install Plugins > Install from ZIP".
#   bash scripts/package_plugin.sh                 # -> dist/qgis_csp_plugin.zip
#   bash scripts/package_plugin.sh /tmp/p.zip      # another output path
#   MODELS_DIR=/some/models bash scripts/package_plugin.sh   # default models from elsewhere (default: models/)
# Layout: qgis_csp_plugin/{__init__.py, plugin.py, contract/, core/, qgis_io/, jobs/, processing/, ui/, icons/, icon.svg,
# metadata.txt, LICENSE, models/*.onnx + the models' third-party licence notices models/LICENSE_*.txt}; no trainer,
# no tests, no bytecode. The zip is checked against the
# plugin repository's rules (scripts/check_plugin_zip.py) before it is written.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-dist/qgis_csp_plugin.zip}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
MODELS_DIR=${MODELS_DIR:-models}
say() { printf '[package] %s\n' "$*"; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/qgis_csp_plugin"
cp -R qgis_csp_plugin "$pkg"
find "$pkg" \( -name __pycache__ -o -name '*.pyc' -o -name '*.part' -o -name '.*' \) -prune -exec rm -rf {} +
cp metadata.txt LICENSE "$pkg/"
[ -f "$pkg/icon.svg" ] || { say "qgis_csp_plugin/icon.svg is missing (metadata.txt names it)" >&2; exit 1; }

# The plugin looks for default models in <plugin>/models first (core/default_models.py).
mkdir -p "$pkg/models"
shopt -s nullglob
models=("$MODELS_DIR"/*.onnx)
if ((${#models[@]})); then
  cp "${models[@]}" "$pkg/models/"
  notices=("$MODELS_DIR"/LICENSE_*.txt)
  ((${#notices[@]})) && cp "${notices[@]}" "$pkg/models/"
else
  say "warning: no *.onnx in $MODELS_DIR: the zip has no default models" >&2
fi

# The plugin must run in QGIS's Python with numpy + onnxruntime only.
if grep -rnE '^[[:space:]]*(import|from)[[:space:]]+(torch|trainer|lightning)([[:space:].]|$)' --include='*.py' "$pkg"; then
  say "the plugin imports torch/trainer/lightning (lines above): QGIS users do not have them" >&2
  exit 1
fi

mkdir -p "$(dirname "$OUT")"
tmp_zip="$stage/qgis_csp_plugin.zip"
(cd "$stage" && python3 -m zipfile -c "$tmp_zip" qgis_csp_plugin)
# The official repository's upload rules (metadata, LICENSE, no compiled files, size): fail with the reason.
python3 "$ROOT/scripts/check_plugin_zip.py" "$tmp_zip" || { say "not written: $OUT (fix the above)" >&2; exit 1; }
mv "$tmp_zip" "$OUT"
say "wrote $OUT ($(du -h "$OUT" | cut -f1), ${#models[@]} model(s))"
