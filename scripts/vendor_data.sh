#!/usr/bin/env bash
# Re-creates data/ from ../shared/data (maintainers only; users get data/ with the clone).
# Lossless: DEFLATE level 9 + horizontal predictor; pixel values and georeferencing unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-../shared/data}
[ -d "$SRC" ] || { echo "no $SRC: data/ is already in the repository" >&2; exit 1; }
mkdir -p data/eurosat_ms data/ssl4eo_s2 data/scenes data/points
opts=(-q -co COMPRESS=DEFLATE -co ZLEVEL=9 -co PREDICTOR=2 -co INTERLEAVE=BAND)
for d in "$SRC"/eurosat_ms/*/; do
  c=$(basename "$d"); mkdir -p "data/eurosat_ms/$c"
  for f in "$d"*.tif; do gdal_translate "${opts[@]}" "$f" "data/eurosat_ms/$c/$(basename "$f")"; done
done
for f in "$SRC"/ssl4eo_s2/*.tif "$SRC"/scenes/*.tif; do
  sub=$(basename "$(dirname "$f")")
  gdal_translate "${opts[@]}" -co TILED=YES "$f" "data/$sub/$(basename "$f")"
done
cp "$SRC"/ssl4eo_s2/index.csv data/ssl4eo_s2/
gzip -9 -c "$SRC"/points/cities15000.csv > data/points/cities15000.csv.gz
du -sh data
