#!/usr/bin/env bash
# Sets up .venv with lmerpy (editable), its test extras and, where the system has the
# SuiteSparse headers, its `cholmod` extra (scikit-sparse 0.4.x, built by pip against the
# system SuiteSparse 5 or 7, as `pip install "lmerpy[cholmod]"` does for a user).
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
extras="test,bench"
if [ -n "$hdr" ]; then
  # scikit-sparse has no wheels: pip compiles it (a minute, then cached) against these headers
  echo "setup: SuiteSparse headers in $(dirname "$hdr"); installing lmerpy[test,bench,cholmod]"
  SUITESPARSE_INCLUDE_DIR=$(dirname "$hdr") .venv/bin/python -m pip install -q -e ".[test,bench,cholmod]" \
    && extras="" || echo "setup: scikit-sparse did not build; lmerpy will use its scipy backend"
else
  echo "setup: no SuiteSparse headers; lmerpy will use its scipy backend"
fi
[ -z "$extras" ] || .venv/bin/python -m pip install -q -e ".[$extras]"
.venv/bin/python -c "import lmerpy; lmerpy.show_config()"
