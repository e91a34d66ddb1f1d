#!/usr/bin/env bash
# Test peers for ward-syslog (helper "formats"): rsyslog with its TLS module
# (gnutls) and logger (util-linux/bsdutils). Idempotent.
set -euo pipefail

need=()
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need+=(rsyslog-gnutls)
command -v logger >/dev/null 2>&1 || need+=(bsdutils)

if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packaged service must not start: tests run their own rsyslogd.
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# A packaged rsyslog may have started a system instance; tests do not need it
# and it would compete for /dev/log only, never for the test ports.
echo "formats deps: rsyslogd $(rsyslogd -v 2>/dev/null | head -1 | awk '{print $2}'), logger $(logger --version 2>/dev/null | awk '{print $NF}')"
