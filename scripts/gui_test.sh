#!/usr/bin/env bash
# The real-desktop GUI test: QGIS (/usr/bin/qgis) under Xvfb on a 1366x768 screen, a fresh profile
# (--profiles-path) with the packaged plugin zip installed and enabled, driven through the CSP toolbar by
# scripts/gui_test.py; its screenshots go to docs/img (the README's), its reports to .test-reports/gui_test.
#   bash scripts/gui_test.sh [runs, default 1] [screenshot folder, default docs/img]
# Exit status 0 when every check of every run passed. About 2 min per run on 2 cores. QGIS gets the X
# display of Xvfb (QT_QPA_PLATFORM=xcb, also when the caller runs headless tests with "offscreen").
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1}
SHOTS=$(realpath -m "${2:-docs/img}")
REPORTS=$(realpath -m .test-reports/gui_test)
say() { printf '[gui_test] %s\n' "$*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$REPORTS"

bash scripts/package_plugin.sh "$work/qgis_csp_plugin.zip" >/dev/null
# A labelled 13-band scene for the few-label steps: 12 shipped EuroSAT patches per class side by side; the
# centres of patches 1-4 train (4 points per class), those of patches 5-12 assess.
.venv/bin/python - "$work/data" <<'PY'
import sys
from pathlib import Path

from osgeo import ogr

from trainer.data.eurosat_mosaic import build_mosaic

out = Path(sys.argv[1])
out.mkdir()
classes = sorted(p.name for p in Path("data/eurosat_ms").iterdir() if p.is_dir())
patches = [Path("data/eurosat_ms") / c / f"{c}_{i}.tif" for c in classes for i in range(1, 13)]
build_mosaic(patches, [p.parent.name for p in patches], out / "scene.tif", out / "labels.gpkg", columns=12)
labels = ogr.Open(str(out / "labels.gpkg"))
source = labels.GetLayerByName("centres")
for name, numbers in (("train_points", range(1, 5)), ("test_points", range(5, 13))):
    target = ogr.GetDriverByName("GPKG").CreateDataSource(str(out / f"{name}.gpkg"))
    layer = target.CreateLayer(name, source.GetSpatialRef(), ogr.wkbPoint)
    for i in range(source.GetLayerDefn().GetFieldCount()):
        layer.CreateField(source.GetLayerDefn().GetFieldDefn(i))
    source.ResetReading()
    for feature in source:
        if int(feature.GetField("patch").rsplit("_", 1)[1].split(".")[0]) in numbers:
            copy = ogr.Feature(layer.GetLayerDefn())
            copy.SetFrom(feature)
            layer.CreateFeature(copy)
    target = None
PY
ORT=$(.venv/bin/python -c 'import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))')
PY_TAG=$(/usr/bin/python3 -c 'import sys; print("py%d%d" % sys.version_info[:2])')
failed=0
for run in $(seq 1 "$RUNS"); do
  profiles="$work/run$run"
  profile="$profiles/profiles/default"
  mkdir -p "$profile/python/plugins" "$profile/QGIS" "$profile/python/csp_dependencies/$PY_TAG" "$profiles/work"
  /usr/bin/python3 -m zipfile -e "$work/qgis_csp_plugin.zip" "$profile/python/plugins/"
  printf '[PythonPlugins]\nqgis_csp_plugin=true\n' > "$profile/QGIS/QGIS3.ini"
  # where the plugin's "Install onnxruntime" puts it (this machine has no internet for pip)
  ln -s "$ORT" "$profile/python/csp_dependencies/$PY_TAG/onnxruntime"
  ln -s "$work/data" "$profiles/work/data"
  result="$REPORTS/run$run.json"
  rm -f "$result"
  start=$(date +%s)
  QT_QPA_PLATFORM=xcb GUI_WORK="$profiles/work" GUI_SHOTS="$SHOTS" GUI_RESULT="$result" \
    GUI_LANDSAT="$(pwd)/data/scenes/LC08_L1TP_224078_20200518_RGB.tif" \
    timeout 900 xvfb-run -a -s "-screen 0 1366x768x24" /usr/bin/qgis --profiles-path "$profiles" --nologo \
    --noversioncheck --code scripts/gui_test.py >"$REPORTS/run$run.qgis.log" 2>&1 \
    || true  # QGIS 3.40 may abort while quitting under Xvfb: the report decides
  say "run $run: $(( $(date +%s) - start )) s"
  /usr/bin/python3 - "$result" <<'PY' || failed=1
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as exc:
    sys.exit(f"[gui_test] no report ({exc}): see {sys.argv[1].replace('.json', '.qgis.log')}")
bad = {name: c for name, c in report["checks"].items() if not c["ok"]}
for name, c in report["checks"].items():
    print(f"[gui_test]   {'ok  ' if c['ok'] else 'FAIL'} {name}" + ("" if c["ok"] else f": {c['detail']}"))
if bad or not report.get("finished"):
    sys.exit(f"[gui_test] {len(bad)} check(s) failed" + ("" if report.get("finished") else "; the session did not finish"))
PY
done
[ "$failed" -eq 0 ] && say "all runs passed; screenshots in $SHOTS" || { say "FAILED (reports in $REPORTS)"; exit 1; }
