#!/usr/bin/env bash
# Installs what a fresh Debian 12 lacks (PostgreSQL 15 + PostGIS, Chromium for the browser
# tests, Python venv) and the project itself into .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=${GEOPORTAL_SETUP_BROWSER:-0}
packages=(postgresql-15 postgresql-15-postgis-3 python3-venv)
[ "$want_browser" = 1 ] && packages+=(chromium gdal-bin)  # gdal-bin: ogrinfo/ogr2ogr read the OGC API in the tests

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is only needed when the interpreter on PATH cannot make a venv.
if python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "==> Instalando paquetes de Debian: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The packaged cluster is not ours: the geoportal runs its own, on its own port.

if [ ! -x .venv/bin/python ]; then
  echo "==> Creando el entorno virtual .venv"
  python3 -m venv .venv
fi
stamp=.venv/.instalado
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> Instalando el geoportal y sus dependencias"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,dev]'
  touch "$stamp"
fi
