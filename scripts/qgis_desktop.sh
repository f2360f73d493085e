#!/usr/bin/env bash
# Runs a Python file inside a real QGIS desktop window under Xvfb (`qgis --code`), with this
# repository's plugin installed in a fresh, temporary profile; used for the README's screenshots.
#   bash scripts/qgis_desktop.sh SCRIPT.py      (environment variables pass through to SCRIPT)
# SHOT_WORK names the temporary folder (deleted afterwards) for SCRIPT's scratch files.
set -euo pipefail
SCRIPT=$(realpath "$1")
cd "$(dirname "$0")/.."
export SHOT_WORK; SHOT_WORK=$(mktemp -d)
trap 'rm -rf "$SHOT_WORK"' EXIT
mkdir -p "$SHOT_WORK/plugins" "$SHOT_WORK/config/profiles/default/QGIS"
cp -r qgis_csp_plugin "$SHOT_WORK/plugins/" && cp metadata.txt "$SHOT_WORK/plugins/qgis_csp_plugin/"
printf '[PythonPlugins]\nqgis_csp_plugin=true\n' > "$SHOT_WORK/config/profiles/default/QGIS/QGIS3.ini"
SITE=$(.venv/bin/python -c 'import site; print(":".join(site.getsitepackages()))')
QGIS_PLUGINPATH="$SHOT_WORK/plugins" QGIS_CUSTOM_CONFIG_PATH="$SHOT_WORK/config" PYTHONPATH="$SHOT_WORK/plugins:$SITE" \
  timeout 600 xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck --code "$SCRIPT" \
  || echo "[qgis_desktop] QGIS exited with status $? (QGIS 3.40 may abort while quitting under Xvfb)"
