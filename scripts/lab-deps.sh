#!/bin/bash
# Installs what the goprov SSH test lab (testinfra/) needs on the controller
# (dpkg-dev: the package tests build a local apt repository with dpkg-scanpackages;
# strace: bench counts the programs a read starts)
# and builds its cached host images (bookworm and trixie, full and minimal) and the lab's
# signed package mirrors. Idempotent: apt-get runs only when a package is missing, each
# image is built once per machine (cached in /var/cache/goprov-lab, keyed by its package
# list and build script), and a mirror is re-indexed and re-signed only when it changed.
#
# Without root the lab cannot run: outside CI this prints why and exits 0
# (the lab's tests then skip with the same reason); in CI (CI=true) it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	msg="lab-deps: not root: the SSH lab needs root (netns, overlay mounts); its tests will skip"
	if ! case "${CI:-}" in ""|0|false|FALSE|False) true ;; *) false ;; esac; then
		echo "$msg; failing because CI is set" >&2
		exit 1
	fi
	echo "$msg" >&2
	exit 0
fi

pkgs=(debootstrap debian-archive-keyring iproute2 util-linux mount openssh-client procps coreutils dpkg-dev gpg strace)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	echo "lab-deps: installing ${missing[*]}" >&2
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

go run ./testinfra/cmd/goprov-lab build-base
# A Debian 13 (trixie) image beside it, for the tests that run on both
# releases (audit_rules: auditd 3.x and 4.x list rules differently).
go run ./testinfra/cmd/goprov-lab build-base -suite trixie

# sign_repo DIR SUITE: indexes DIR's .debs (a flat repository) and signs the
# index like an archive: a Release file with the index's digest,
# clear-signed (InRelease) with the lab's own archive key, made once and
# kept beside the caches; hosts trust only that key (signed-by=). Runs only
# when the index is missing or older than the newest .deb.
gnupg=/var/cache/goprov-lab/archive-gnupg
sign_repo() {
	local dir=$1 suite=$2
	if [ ! -s "$dir/Packages" ] || [ -n "$(find "$dir" -maxdepth 1 -name '*.deb' -newer "$dir/Packages")" ]; then
		(cd "$dir" && dpkg-scanpackages --multiversion . /dev/null > Packages.tmp 2>/dev/null && mv Packages.tmp Packages)
	fi
	if [ -s "$dir/InRelease" ] && [ ! "$dir/Packages" -nt "$dir/InRelease" ]; then
		return 0
	fi
	if [ ! -d "$gnupg" ]; then
		rm -rf "$gnupg.tmp"
		mkdir -m 700 "$gnupg.tmp"
		gpg --homedir "$gnupg.tmp" --batch --quiet --passphrase '' --quick-gen-key 'goprov lab archive <lab@goprov.invalid>' ed25519 sign never
		gpgconf --homedir "$gnupg.tmp" --kill gpg-agent 2>/dev/null || true
		mv "$gnupg.tmp" "$gnupg"
	fi
	{
		echo "Origin: goprov-lab"
		echo "Label: goprov-lab"
		echo "Suite: $suite"
		echo "Codename: $suite"
		echo "Date: $(LC_ALL=C date -Ru)"
		echo "Architectures: amd64 all"
		echo "Description: goprov lab mirror of Debian packages"
		echo "SHA256:"
		printf ' %s %s Packages\n' "$(sha256sum < "$dir/Packages" | cut -d' ' -f1)" "$(stat -c %s "$dir/Packages")"
	} > "$dir/Release"
	gpg --homedir "$gnupg" --batch --quiet --export > "$dir/lab-archive-keyring.gpg"
	gpg --homedir "$gnupg" --batch --quiet --yes --clearsign -o "$dir/InRelease.tmp" "$dir/Release"
	mv "$dir/InRelease.tmp" "$dir/InRelease"
	gpgconf --homedir "$gnupg" --kill gpg-agent 2>/dev/null || true
}

# Minimal images (debootstrap minbase + sshd, Options.Minimal), each with
# the lab's mirror of its release: every .deb the image lacks to install
# the tools the shipped baselines install (sudo, auditd, ufw, zsh), with
# their dependencies, downloaded by the image's own apt during its cached
# build (testinfra/base). Indexed and signed here.
for suite in bookworm trixie; do
	out=$(go run ./testinfra/cmd/goprov-lab build-base -minimal -suite "$suite")
	echo "$out"
	mirror=$(printf '%s\n' "$out" | sed -n 's/^lab mirror: //p')
	[ -n "$mirror" ] || { echo "lab-deps: no mirror for the minimal $suite image" >&2; exit 1; }
	sign_repo "$mirror" "$suite"
done

# The lab's package cache for the full image: Debian's own .debs of the
# tools the baselines install (package resources), downloaded once from the
# machine's apt sources into /var/cache/goprov-lab/debs/CODENAME, keyed by
# this list. Hosts of the full image get it after purging those tools: the
# image has their dependencies, so the cache holds only the tools themselves.
lab_debs=(sudo auditd ufw zsh)
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -n "$codename" ]; then
	cache=/var/cache/goprov-lab/debs/$codename
	if [ "$(cat "$cache/.packages" 2>/dev/null)" != "${lab_debs[*]}" ]; then
		echo "lab-deps: downloading ${lab_debs[*]} into $cache" >&2
		tmp=$(mktemp -d "$cache.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")" && mktemp -d "$cache.XXXXXX"; })
		chmod 755 "$tmp"
		(cd "$tmp" && apt-get download -q "${lab_debs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
		for p in "${lab_debs[@]}"; do
			ls "$tmp/${p}_"*.deb >/dev/null 2>&1 || { echo "lab-deps: apt-get download $p failed" >&2; rm -rf "$tmp"; exit 1; }
		done
		echo "${lab_debs[*]}" > "$tmp/.packages"
		rm -rf "$cache"
		mv "$tmp" "$cache"
	fi
	sign_repo "$cache" "$codename"
fi
