#!/bin/bash
# Warms what the go_toolchain tests download, so a CI machine fetches each
# toolchain once and later runs read it from disk: the two golang.org/toolchain
# module versions (≈ 73 MB each) go into the Go module cache (GOMODCACHE, keep
# it between CI runs), verified against the checksum database by `go mod
# download`. Also installs gnupg (the tests sign a mirror's archive with a
# throwaway key) and gpgv (goprov checks signatures with it) when missing.
# Keep VERSIONS in step with labVersion/labVersion2 in
# resources/gotoolchain/lab_test.go (a unit test checks).
set -euo pipefail
VERSIONS=(1.22.5 1.22.4)

need=()
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
command -v gpgv >/dev/null 2>&1 || need+=(gpgv)
if ((${#need[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "go-toolchain-cache: missing ${need[*]}; run as root or apt-get install ${need[*]}" >&2
		exit 1
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

goos=$(go env GOOS)
goarch=$(go env GOARCH)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cd "$work" # outside any module: no go.mod is read or changed
for v in "${VERSIONS[@]}"; do
	m="golang.org/toolchain@v0.0.1-go$v.$goos-$goarch"
	GOTOOLCHAIN=local GOWORK=off go mod download -json "$m" >/dev/null
	echo "go-toolchain-cache: $m in $(go env GOMODCACHE)"
done
