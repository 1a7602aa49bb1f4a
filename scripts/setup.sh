#!/usr/bin/env bash
# Sets up .venv with lmerpy (editable), its test extras and, where the system allows,
# scikit-sparse built against the system SuiteSparse (0.4.x for SuiteSparse 5, 0.5 for 7).
# As root on Debian/Ubuntu, installs libsuitesparse-dev and OpenBLAS when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
hdr=""
for d in /usr/include/suitesparse /usr/local/include/suitesparse /usr/include; do
  [ -f "$d/SuiteSparse_config.h" ] && { hdr="$d/SuiteSparse_config.h"; break; }
done
if [ -z "$hdr" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing libsuitesparse-dev and OpenBLAS (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libsuitesparse-dev libopenblas0-pthread) >/dev/null || echo "setup: apt-get failed; continuing without CHOLMOD"
  for d in /usr/include/suitesparse /usr/include; do
    [ -f "$d/SuiteSparse_config.h" ] && { hdr="$d/SuiteSparse_config.h"; break; }
  done
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test,bench]"
if ! .venv/bin/python -c "import sksparse.cholmod" >/dev/null 2>&1; then
  if [ -n "$hdr" ]; then
    major=$(awk '/#define SUITESPARSE_MAIN_VERSION/ {print $3}' "$hdr")
    case "$major" in
      5|6) spec="scikit-sparse>=0.4.14,<0.5" ;;
      *) spec="scikit-sparse>=0.5" ;;
    esac
    echo "setup: SuiteSparse $major found; installing $spec"
    .venv/bin/python -m pip install -q "cython>=3" setuptools wheel numpy scipy >/dev/null
    SUITESPARSE_INCLUDE_DIR=$(dirname "$hdr") .venv/bin/python -m pip install -q --no-build-isolation "$spec" \
      || echo "setup: scikit-sparse did not build; lmerpy will use its scipy backend"
  else
    echo "setup: no SuiteSparse headers; lmerpy will use its scipy backend"
  fi
fi
.venv/bin/python -c "import lmerpy; lmerpy.show_config()"
