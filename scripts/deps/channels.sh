#!/usr/bin/env bash
# Installs the peers the ward-channels / ward-notify-standin tests need:
#   - notifications-python-client (the official GOV.UK Notify client, PyPI)
#   - aiosmtpd (SMTP server with STARTTLS, PyPI)
# into the venv at ${WARD_VENV:-$REPO/.venv}. Idempotent.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${WARD_VENV:-$REPO/.venv}"

if ! command -v python3 >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-venv
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { apt-get update && apt-get install -y python3-venv && python3 -m venv "$VENV"; }
fi
need=()
"$VENV/bin/python" -c 'import notifications_python_client' 2>/dev/null || need+=("notifications-python-client>=10")
"$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null || need+=("aiosmtpd>=1.4")
if [ ${#need[@]} -gt 0 ]; then
    "$VENV/bin/python" -m pip install --quiet "${need[@]}"
fi
"$VENV/bin/python" -c 'import notifications_python_client, aiosmtpd; print("channels deps ok")'
