#!/bin/sh
# goprov lab host init. Runs (with the controller's tools) as the first
# process of a host's new mount/UTS/IPC(/PID) namespaces inside its network
# namespace, prepares the host's root and replaces itself with tini.
# Usage: init.sh ROOT HOSTNAME BOOTARGS...
set -eu
root=$1 name=$2
shift 2

mount -t proc proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,size=4m,nosuid tmpfs "$root/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	n=${d%%:*} mm=${d#*:}
	mknod -m 0666 "$root/dev/$n" c "${mm%:*}" "${mm#*:}"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev shm "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=0755,size=64m,nosuid,nodev tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock" "$root/run/dbus"
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs "$root/tmp"
hostname "$name"

cd "$root"
mkdir -p .goprov-oldroot
pivot_root . .goprov-oldroot
cd /
umount -l /.goprov-oldroot
rmdir /.goprov-oldroot
# tini -s: orphans (daemons) are reaped by tini and stay in the host's tree.
exec /usr/bin/tini -s -- /bin/sh /usr/local/lib/goprov-lab/boot.sh "$@"
