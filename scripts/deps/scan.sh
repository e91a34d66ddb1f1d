#!/usr/bin/env bash
# Installs the external peers that ward-scan's tests need: Samba (smbd),
# nmap (comparison oracle + benchmark), ndiff (reads
# ward's nmap-style XML in tests), xrdp (RDP peer) and openssl
# (s_server for TLS peers). Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v smbd >/dev/null 2>&1 || [ -x /usr/sbin/smbd ] || need+=(samba)
command -v nmap >/dev/null 2>&1 || need+=(nmap)
[ -x /usr/sbin/xrdp ] || command -v xrdp >/dev/null 2>&1 || need+=(xrdp)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ndiff >/dev/null 2>&1 || need+=(ndiff)

if [ "${#need[@]}" -eq 0 ]; then
    echo "scan deps: samba, nmap, ndiff, xrdp, openssl already present"
    exit 0
fi

echo "scan deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other engineers may hold the dpkg lock; wait for it rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
    apt-get "${apt_opts[@]}" update
fi
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${need[@]}"

# The packages start system daemons via their maintainer scripts where an init
# system exists; tests run their own private instances on free loopback ports,
# so nothing else is needed here.
echo "scan deps: done"
