#!/usr/bin/env bash
# Browser tests of the web chat: installs Chromium and playwright-core if
# needed, builds sandbot, and runs chat.test.mjs against a real server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== npm ci (playwright-core)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo build"
(cd "$root" && cargo build --locked --quiet)

echo "== browser tests"
cd "$here"
SANDBOT_BIN="${SANDBOT_BIN:-$root/target/debug/sandbot}" \
  node --test --test-concurrency=1 chat.test.mjs
