#!/usr/bin/env bash
# Runs a command beside a throw-away PostgreSQL cluster on 127.0.0.1 (Debian's postgresql
# package), with TEST_DATABASE_URL pointing at it, then stops and deletes the cluster.
#   bash scripts/with-postgres.sh npm test
set -euo pipefail
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
[ -x "$bin/initdb" ] || { echo "PostgreSQL not installed: apt-get install -y postgresql" >&2; exit 1; }

dir="$(mktemp -d)"
port="${PGPORT_TEST:-55432}"
# PostgreSQL refuses to run as root: the cluster belongs to the postgres user when we are root.
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as_pg=(runuser -u postgres --); fi

"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off" start >/dev/null
stop () { "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
# What the database-restart test needs to stop and start this server.
export TEST_PG_CTL="${as_pg[*]} $bin/pg_ctl -D $dir/data -l $dir/log -w -o '-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off'"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
