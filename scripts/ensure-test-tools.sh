#!/usr/bin/env bash
# Makes sure the tests' outside tools are on PATH, installing Debian's packages when missing:
# - docker-compose: test/integration/compose.test.ts validates docker-compose.yml with it (no Docker
#   engine needed: `docker-compose config` only parses), Debian's 1.29, a Compose Spec implementation,
#   installed without its recommended Docker engine;
# - tmux: test/integration/cli.test.ts drives `vbs` through a real terminal;
# - haproxy: the load balancer of `npm run cluster` (test/integration/cluster.test.ts).
# With arguments, only those (`npm run cluster` asks for haproxy alone).
set -euo pipefail

tools=("$@")
[ "${#tools[@]}" -gt 0 ] || tools=(docker-compose tmux haproxy)
missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (Debian packages) for the tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  exit 0
fi

echo "the tests need ${missing[*]}, which cannot be installed here (needs apt-get as root)." >&2
echo "Install them (Debian/Ubuntu: apt-get install ${missing[*]}), then run the tests again." >&2
exit 1
