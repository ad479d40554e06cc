#!/bin/bash
# Installs what the goprov SSH test lab (testinfra/) needs on the controller
# (dpkg-dev: the package tests build a local apt repository with dpkg-scanpackages;
# strace: bench counts the programs a read starts)
# and builds its cached host images (bookworm and trixie). Idempotent: apt-get runs only when a
# package is missing, and the image is built once per machine (cached in
# /var/cache/goprov-lab, keyed by its package list and build script).
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

# The lab's package cache: Debian's own .debs of the tools the baselines
# install (package resources), downloaded once from the machine's apt
# sources into /var/cache/goprov-lab/debs/CODENAME, keyed by this list, and
# indexed with dpkg-scanpackages. Lab tests copy it into a host as a local
# `file:` repository (the lab is offline). The hosts' base images have these
# packages' dependencies; a full mirror for hosts from a bare minbase would
# also need those (apt-cache depends --recurse).
lab_debs=(sudo auditd ufw zsh)
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -n "$codename" ]; then
	cache=/var/cache/goprov-lab/debs/$codename
	if [ "$(cat "$cache/.packages" 2>/dev/null)" != "${lab_debs[*]}" ]; then
		echo "lab-deps: downloading ${lab_debs[*]} into $cache" >&2
		tmp=$(mktemp -d "$cache.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")" && mktemp -d "$cache.XXXXXX"; })
		chmod 755 "$tmp"
		(cd "$tmp" && apt-get download -q "${lab_debs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
		(cd "$tmp" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null)
		for p in "${lab_debs[@]}"; do
			ls "$tmp/${p}_"*.deb >/dev/null 2>&1 || { echo "lab-deps: apt-get download $p failed" >&2; rm -rf "$tmp"; exit 1; }
		done
		echo "${lab_debs[*]}" > "$tmp/.packages"
		rm -rf "$cache"
		mv "$tmp" "$cache"
	fi
	# Signed like a real archive: a Release file with the index's digest,
	# clear-signed (InRelease) with the lab's own archive key, made once
	# and kept beside the cache; hosts trust only that key (signed-by=).
	gnupg=/var/cache/goprov-lab/archive-gnupg
	if [ ! -s "$cache/InRelease" ] || [ "$cache/Packages" -nt "$cache/InRelease" ]; then
		if [ ! -d "$gnupg" ]; then
			mkdir -m 700 "$gnupg.tmp"
			gpg --homedir "$gnupg.tmp" --batch --quiet --passphrase '' --quick-gen-key 'goprov lab archive <lab@goprov.invalid>' ed25519 sign never
			gpgconf --homedir "$gnupg.tmp" --kill gpg-agent 2>/dev/null || true
			mv "$gnupg.tmp" "$gnupg"
		fi
		{
			echo "Origin: goprov-lab"
			echo "Label: goprov-lab"
			echo "Suite: $codename"
			echo "Codename: $codename"
			echo "Date: $(LC_ALL=C date -Ru)"
			echo "Architectures: amd64 all"
			echo "Description: goprov lab mirror of Debian packages"
			echo "SHA256:"
			printf ' %s %s Packages\n' "$(sha256sum < "$cache/Packages" | cut -d' ' -f1)" "$(stat -c %s "$cache/Packages")"
		} > "$cache/Release"
		gpg --homedir "$gnupg" --batch --quiet --yes --clearsign -o "$cache/InRelease" "$cache/Release"
		gpg --homedir "$gnupg" --batch --quiet --export > "$cache/lab-archive-keyring.gpg"
		gpgconf --homedir "$gnupg" --kill gpg-agent 2>/dev/null || true
	fi
fi
