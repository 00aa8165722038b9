#!/usr/bin/env bash
# Set up everything shotdex needs on Debian 12 (idempotent, offline once installed), then run a job.
#   bash scripts/dev.sh setup   only set up
#   bash scripts/dev.sh demo    set up, then render, index and search samples/
#   bash scripts/dev.sh test    set up, then run the whole test suite
#   bash scripts/dev.sh bench   set up (and the benchmark corpora's Debian packages), then every benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SHOTDEX_VENV:-$ROOT/.venv}
APT_PKGS="chromium fonts-dejavu-core fonts-liberation tesseract-ocr tesseract-ocr-eng python3-venv
  libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno"

# The corpora of two shared benchmark sets are Debian documentation packages (../shared/benchmarks/README.md).
BENCH_APT_PKGS="python3.11-doc python-sklearn-doc"

need_apt() {
  local missing=()
  for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

need_venv() {
  local py=${PYTHON:-python3}
  local stamp="$VENV/.shotdex-installed"
  local want
  want=$(cat pyproject.toml scripts/dev.sh | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  echo "==> python venv in $VENV"
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  local log="$VENV/pip.log"
  pip_quiet() { "$VENV/bin/pip" install -q "$@" >>"$log" 2>&1 || { tail -40 "$log" >&2; echo "pip install $* failed (log: $log)" >&2; exit 1; }; }
  : >"$log"
  pip_quiet --upgrade pip
  # The CPU build of torch, pinned so pip never pulls a multi-GB CUDA build.
  pip_quiet "torch==2.13.0"
  pip_quiet -e ".[test,ray,s3]"
  echo "$want" > "$stamp"
}

setup() {
  need_apt
  need_venv
  export LANCEDB_LOG=error HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
}

demo() {
  local out=$ROOT/demo-out
  rm -rf "$out/tiles"
  "$VENV/bin/shotdex" render samples --out "$out/tiles" || true
  "$VENV/bin/shotdex" index samples --db "$out/db" || true
  "$VENV/bin/shotdex" status --db "$out/db"
  for q in "monthly rainfall in Bergen" "capital cities of the Nordic countries" "how to feed a sourdough starter"; do
    echo; echo "==> shotdex search \"$q\" --db $out/db -k 3"
    "$VENV/bin/shotdex" search "$q" --db "$out/db" -k 3
  done
  "$VENV/bin/shotdex" search "monthly rainfall in Bergen" --db "$out/db" -k 6 --show "$out/contact-sheet.png" >/dev/null
  echo; echo "tiles: $out/tiles   index: $out/db   contact sheet: $out/contact-sheet.png"
  echo "browse it: $VENV/bin/shotdex serve --db $out/db --open   (the web page on http://127.0.0.1:8765/)"
}

tests() {
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
}

cmd=${1:-demo}; shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; demo ;;
  test) setup; tests "$@" ;;
  bench) APT_PKGS="$APT_PKGS $BENCH_APT_PKGS"; setup; "$VENV/bin/python" benchmarks/run_all.py "$@" ;;
  *) echo "usage: bash scripts/dev.sh setup|demo|test [pytest args]|bench [run_all args]" >&2; exit 2 ;;
esac
