#!/bin/bash
# goprov's whole test suite, from a fresh Debian machine: installs what the
# tests need (idempotently; the lab's host image is built once and cached),
# checks formatting and vet, then runs every test, including the real-SSH
# lab tests. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Shells the profile_script tests source their output in and the SSH
# transport's exec line must survive as a login shell (besides dash and
# bash; busybox-static is also the image sandbox's shell for roots without
# /bin/sh, and replaces Debian's dynamic busybox), sudo for visudo in the
# sudoers fuzz target, and Debian's ansible (ansible-core +
# community.general) for the bench harness's smoke test.
need=()
for p in zsh fish tcsh csh busybox-static sudo ansible; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})) && [ "$(id -u)" = 0 ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# The SSH lab: controller packages and the cached Debian host image.
bash scripts/lab-deps.sh
# go_toolchain tests: the two toolchain modules (into the Go module cache,
# verified by the checksum database) and gpg/gpgv.
bash scripts/go-toolchain-cache.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" $unformatted >&2
	exit 1
fi
go vet ./...

# Every fuzz target, briefly.
bash scripts/fuzz.sh

# Every test. testreport prints each package's line, the output of failed
# and skipped tests and a closing "N passed, N failed, N skipped" line; under
# CI (CI=true, as .ci/run sets) a skipped test fails the run.
go test -count=1 -timeout 70m -json ./... "$@" | go run ./internal/ci/testreport
