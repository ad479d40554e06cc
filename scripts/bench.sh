#!/bin/sh
# Benchmark goprov against Ansible on lab hosts (see bench/README.md).
#   scripts/bench.sh                 # N=20, 3 rounds
#   scripts/bench.sh -n 200 -rounds 1 -tools goprov
#   scripts/bench.sh --install-only  # only install what the bench (and its smoke test) needs
# Installs Debian's ansible (ansible-core + the collections, community.general
# among them) when missing, and the lab's dependencies; needs root.
set -eu
cd "$(dirname "$0")/.."
if ! dpkg-query -W -f='${Status}' ansible 2>/dev/null | grep -q 'install ok installed'; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ansible
fi
bash scripts/lab-deps.sh
if [ "${1:-}" = --install-only ]; then
	exit 0
fi
exec go run ./bench "$@"
