#!/usr/bin/env bash
# Idempotent setup: Debian packages (QGIS 3.40 LTR from bookworm-backports + Xvfb), one venv that sees PyQGIS, the project
# installed editable with the train/test/plugin extras, numpy<2 and the torch pair pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '[setup] %s\n' "$*"; }

# QGIS 3.40 LTR comes from bookworm-backports (bookworm itself carries 3.22, out of support).
QGIS_MIN=3.40
QGIS_PKGS=(qgis python3-qgis qgis-providers)
APT_PKGS=(xvfb python3-venv)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
BACKPORTS=/etc/apt/sources.list.d/bookworm-backports.sources
add_backports() {
  # Same mirror as the machine's own bookworm entry; written once.
  [ -f "$BACKPORTS" ] && return 0
  local uri
  uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -oE 'https?://[^ ]*debian/?' | head -1 || true)
  uri=${uri:-http://deb.debian.org/debian}
  say "adding bookworm-backports ($uri) to apt's sources"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" | $SUDO tee "$BACKPORTS" >/dev/null
}
qgis_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' qgis 2>/dev/null) || return 1
  dpkg --compare-versions "$v" ge "$QGIS_MIN" && for p in "${QGIS_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! qgis_ok || ((${#missing[@]})); then
  add_backports
  $SUDO apt-get update -qq
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! qgis_ok; then
    say "installing QGIS >= $QGIS_MIN LTR from bookworm-backports (upgrades an older QGIS)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports "${QGIS_PKGS[@]}" >/dev/null
  fi
else
  say "Debian packages present: QGIS $(dpkg-query -W -f='${Version}' qgis), ${APT_PKGS[*]}"
fi

# Debian's Python by full path: the first python3 on PATH may be a pyenv build that cannot import qgis.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv (Debian /usr/bin/python3, --system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
PY="$ROOT/.venv/bin/python"
export PIP_CONSTRAINT="$ROOT/scripts/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1

STAMP=.venv/.geo-ssl-installed
WANT=$(cat pyproject.toml scripts/constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  say "installing the project: pip install -e .[train,test,plugin] (numpy<2, torch 2.14.1, torchvision 0.29.1)"
  # pip's notes about unused local index folders are noise; real errors still show.
  "$PY" -m pip install -q --config-settings editable_mode=compat -e ".[train,test,plugin]" 2> >(grep -v "WARNING: Location 'file://" >&2)
  # [geoclip] extra without its image-side dependencies (transformers, Pillow 13, huggingface-hub<2):
  # only its location-encoder module and weights are used (python -m trainer import geoclip, tests).
  "$PY" -m pip install -q --no-deps "geoclip==1.3.0"
  echo "$WANT" > "$STAMP"
else
  say "project already installed (pyproject.toml and constraints unchanged)"
fi

say "checking that QGIS, GDAL, torch, onnxruntime and rasterio import in one interpreter"
QT_QPA_PLATFORM=offscreen "$PY" - <<'PYCHECK'
import numpy, qgis.core, osgeo.gdal, torch, torchvision, onnxruntime, rasterio, lightning
assert numpy.__version__.startswith("1."), f"numpy {numpy.__version__}: numpy<2 is required"
print(f"[setup] ok: QGIS {qgis.core.Qgis.QGIS_VERSION}, GDAL {osgeo.gdal.__version__}, numpy {numpy.__version__}, "
      f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, rasterio {rasterio.__version__}")
PYCHECK
