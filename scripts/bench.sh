#!/bin/sh
# Benchmark goprov against Ansible on lab hosts (see bench/README.md).
#   scripts/bench.sh                 # N=20, 3 rounds
#   scripts/bench.sh -n 200 -rounds 1 -tools goprov
#   scripts/bench.sh --install-only  # only install what the bench (and its smoke test) needs
# Installs Debian's ansible (ansible-core + the collections, community.general
# among them) and ansible-mitogen when missing, and the lab's dependencies; needs root.
set -eu
cd "$(dirname "$0")/.."
# ansible-mitogen: Ansible's mitogen_linear strategy (the bench's third
# tool); Debian's build is patched for Debian's ansible-core 2.14.
missing=
for p in ansible ansible-mitogen; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
bash scripts/lab-deps.sh
if [ "${1:-}" = --install-only ]; then
	exit 0
fi
exec go run ./bench "$@"
