#!/bin/bash
# Builds the lab's base root filesystem into TARGET (a fresh directory).
# Usage: build.sh TARGET MIRROR SOURCES_FILE PACKAGES_FILE [SUITE]
# OPS_PASSWORD (environment) is the password of the sudo-with-password user.
# With DEBS_OUT and MIRROR_PACKAGES (environment; minimal images), the .debs
# the finished image lacks to install MIRROR_PACKAGES (their dependency
# closure, no recommends) are downloaded by the image's own apt and moved
# to DEBS_OUT: the lab's mirror for hosts of this image.
# Called by testinfra/base (Go), which makes it atomic and cached.
set -euo pipefail
target=$1 mirror=$2 sources=$3 packages=$4 suite=${5:-bookworm}
: "${OPS_PASSWORD:?OPS_PASSWORD must be set}"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# debootstrap's resolver fails on firewalld's alternatives, so it only lays
# down minbase; apt inside the chroot installs the real package list.
debootstrap --variant=minbase "$suite" "$target" "$mirror"

install -m 0644 "$sources" "$target/etc/apt/sources.list"
cp -L /etc/resolv.conf "$target/etc/resolv.conf"
rm -f "$target"/etc/apt/sources.list.d/*
# No service may start inside the chroot during the install.
printf '#!/bin/sh\nexit 101\n' >"$target/usr/sbin/policy-rc.d"
chmod 0755 "$target/usr/sbin/policy-rc.d"

mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages")

# A private mount namespace: the chroot's /proc etc. vanish with it, even on failure.
unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
  t=$1; shift
  mount -t proc proc "$t/proc"
  mount --rbind /dev "$t/dev"
  mount -t tmpfs tmpfs "$t/tmp"
  chroot "$t" apt-get update -q
  chroot "$t" apt-get install -y -q --no-install-recommends "$@"
  if [ -n "${DEBS_OUT:-}" ]; then
    chroot "$t" apt-get clean
    # shellcheck disable=SC2086 # a space-separated list of package names
    chroot "$t" apt-get install -y -q --download-only --no-install-recommends $MIRROR_PACKAGES
  fi
' build "$target" "${pkgs[@]}"
if [ -n "${DEBS_OUT:-}" ]; then
  mkdir -p "$DEBS_OUT"
  for p in $MIRROR_PACKAGES; do
    ls "$target/var/cache/apt/archives/${p}_"*.deb >/dev/null
  done
  mv "$target"/var/cache/apt/archives/*.deb "$DEBS_OUT/"
fi

# Users: deploy (NOPASSWD sudo), ops (sudo with password); on a minimal
# image sudo comes later (a package resource), and these rules with it. Fixed UIDs keep
# the base reproducible; root's and users' authorized_keys come per lab.
chroot "$target" useradd -m -s /bin/bash -u 1001 -U deploy
chroot "$target" useradd -m -s /bin/bash -u 1002 -U -G sudo ops
# '*' (not '!') so sshd accepts key logins for deploy.
chroot "$target" usermod -p '*' deploy
# chpasswd reads the password from stdin: never through a shell.
printf 'ops:%s\n' "$OPS_PASSWORD" | chroot "$target" chpasswd
install -d -m 0750 "$target/etc/sudoers.d"
printf 'deploy ALL=(ALL) NOPASSWD:ALL\n' >"$target/etc/sudoers.d/deploy"
chmod 0440 "$target/etc/sudoers.d/deploy"
# Login-shell users: the same two sudo flavours with fish, tcsh and zsh as
# login shell, since sshd hands the exec line to the login shell to parse.
uid=1011
for sh in fish tcsh zsh; do
  # Not on a minimal image; the UIDs stay fixed either way.
  [ -x "$target/usr/bin/$sh" ] || { uid=$((uid + 2)); continue; }
  for kind in deploy ops; do
    u=$sh-$kind
    chroot "$target" groupadd -g "$uid" "$u"
    if [ "$kind" = deploy ]; then
      chroot "$target" useradd -m -s "/usr/bin/$sh" -u "$uid" -g "$uid" "$u"
      chroot "$target" usermod -p '*' "$u"
      printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$u" >"$target/etc/sudoers.d/$u"
      chmod 0440 "$target/etc/sudoers.d/$u"
    else
      chroot "$target" useradd -m -s "/usr/bin/$sh" -u "$uid" -g "$uid" -G sudo "$u"
      printf '%s:%s\n' "$u" "$OPS_PASSWORD" | chroot "$target" chpasswd
    fi
    install -d -m 0700 "$target/home/$u/.ssh"
    chroot "$target" chown "$u:" "/home/$u/.ssh"
    uid=$((uid + 1))
  done
done
if [ -x "$target/usr/sbin/visudo" ]; then
  chroot "$target" visudo -c >/dev/null
fi
for u in root:/root deploy:/home/deploy ops:/home/ops; do
  install -d -m 0700 "$target${u#*:}/.ssh"
  chroot "$target" chown "${u%%:*}:" "${u#*:}/.ssh"
done

# sshd: without systemd or a real login session, pam_loginuid cannot write.
for f in "$target/etc/pam.d/sshd" "$target/etc/pam.d/login"; do
  [ ! -e "$f" ] || sed -i 's/^session\s\+required\s\+pam_loginuid.so/session optional pam_loginuid.so/' "$f"
done
cat >"$target/etc/ssh/sshd_config.d/goprov-lab.conf" <<'CONF'
# goprov lab: per-host keys are generated at lab start.
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
UseDNS no
LogLevel VERBOSE
# Tests open many connections at once.
MaxStartups 200:30:400
MaxSessions 100
CONF
rm -f "$target"/etc/ssh/ssh_host_*

# Safety: no shipped audit rule may make the kernel audit immutable.
if grep -rqsE '^[[:space:]]*-e[[:space:]]+2' "$target/etc/audit"; then
  echo "base: audit rules contain -e 2" >&2
  exit 1
fi

rm -f "$target/usr/sbin/policy-rc.d"
: >"$target/etc/machine-id"
# Hosts are offline: no resolver.
rm -f "$target/etc/resolv.conf"
: >"$target/etc/resolv.conf"
chroot "$target" apt-get clean
rm -rf "$target"/var/lib/apt/lists/* "$target"/var/cache/apt/*.bin
