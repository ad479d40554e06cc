#!/bin/bash
# goprov's main job on an embedded default, from a fresh Debian machine:
# plan and apply examples/quickstart into a scratch directory treated as
# the host's "/" (nothing on this machine changes). An empty directory has
# no shell of its own, so goprov's image sandbox borrows Debian's static
# busybox: installed here when missing (as root), idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /bin/busybox ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static
	else
		echo "quickstart: goprov runs image roots as root; run this script as root (it installs busybox-static)" >&2
		exit 1
	fi
fi
exec go run ./cmd/goprov apply -auto-approve -root "${1:-/tmp/goprov-demo}" examples/quickstart
