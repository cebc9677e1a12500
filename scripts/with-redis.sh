#!/usr/bin/env bash
# Runs a command beside a throw-away Redis server on 127.0.0.1 (Debian's redis-server package),
# with TEST_REDIS_URL pointing at it; composes with with-postgres.sh:
#   bash scripts/with-postgres.sh bash scripts/with-redis.sh npm test
set -euo pipefail
command -v redis-server >/dev/null || { echo "Redis not installed: apt-get install -y redis-server" >&2; exit 1; }
port="${REDISPORT_TEST:-56379}"
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
stop () { [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap stop EXIT
for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export TEST_REDIS_URL="redis://127.0.0.1:$port"
echo "Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
