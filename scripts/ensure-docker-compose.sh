#!/usr/bin/env bash
# Makes sure a `docker-compose` is on PATH for test/integration/compose.test.ts, which validates
# docker-compose.yml with it (no Docker engine needed: `docker-compose config` only parses).
# Installs Debian's docker-compose (1.29, a Compose Spec implementation) when missing, without its
# recommended Docker engine.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then exit 0; fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "docker-compose not found: installing Debian's docker-compose" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends docker-compose >&2
  docker-compose version >&2
  exit 0
fi

echo "docker-compose not found, and it cannot be installed here (needs apt-get as root)." >&2
echo "Install Docker Compose (Debian/Ubuntu: apt-get install docker-compose), then run the tests again." >&2
exit 1
