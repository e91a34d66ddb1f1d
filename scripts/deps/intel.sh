#!/usr/bin/env bash
# Installs the external peers ward-intel's tests need, idempotently:
#   medallion      - OASIS TAXII 2.1 reference server (ward's TAXII client is tested against it)
#   taxii2-client  - OASIS TAXII 2.1 client (drives ward's TAXII server in tests)
#   stix2-validator - OASIS STIX 2.1 validator (every exported bundle must pass --strict)
# into the venv at ${WARD_VENV:-$REPO/.venv}. Tests find its python via WARD_PYTHON.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${WARD_VENV:-$REPO/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3-venv
  fi
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
need=()
"$PY" -c 'import medallion' 2>/dev/null || need+=("medallion==3.0.0")
"$PY" -c 'import taxii2client' 2>/dev/null || need+=("taxii2-client==2.3.0")
"$PY" -c 'import stix2validator' 2>/dev/null || need+=("stix2-validator")
if [ ${#need[@]} -gt 0 ]; then
  "$PY" -m pip install --quiet "${need[@]}"
fi
"$PY" -c 'import medallion, taxii2client, stix2validator; print("intel deps ok")'
