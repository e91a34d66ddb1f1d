#!/usr/bin/env bash
# Makes a PostgreSQL server reachable for the storage tests and prints the admin URL to use.
# Uses a running server when one answers; otherwise installs Debian's postgresql, starts its
# cluster and gives the postgres role a password (pg_hba.conf is left as Debian ships it).
set -euo pipefail
URL_TRUST="postgres://postgres@127.0.0.1:5432/postgres"
URL_PASSWORD="postgres://postgres:ward-test@127.0.0.1:5432/postgres"
can() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

if command -v psql >/dev/null 2>&1; then
    if can "$URL_TRUST"; then echo "$URL_TRUST"; exit 0; fi
    if can "$URL_PASSWORD"; then echo "$URL_PASSWORD"; exit 0; fi
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
    if su postgres -c "psql -Atqc 'select 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done
if can "$URL_TRUST"; then echo "$URL_TRUST"; exit 0; fi
su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD 'ward-test'\"" >&2
can "$URL_PASSWORD" || { echo "PostgreSQL started but refuses $URL_PASSWORD" >&2; exit 1; }
echo "$URL_PASSWORD"
