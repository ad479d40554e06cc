#!/bin/sh
# goprov lab host supervisor (inside the host, child of tini). Keeps sshd and
# the optional dbus + firewalld in one process tree that the lab owns.
# SIGUSR1 starts sshd again after the lab killed it (fault injection).
# Usage: boot.sh [firewalld]
set -u
echo $$ >/run/goprov-lab-boot.pid

start_sshd() {
	# -D: stay a child of this script; -E: log (VERBOSE) to the host's disk.
	/usr/sbin/sshd -D -E /var/log/sshd.log -o PidFile=/run/sshd.pid &
}

if [ "${1:-}" = firewalld ]; then
	rm -f /run/dbus/pid
	dbus-daemon --system --fork
	setsid firewalld --nofork --nopid >>/var/log/firewalld.console 2>&1 &
fi
start_sshd
trap start_sshd USR1
# A child that never exits keeps `wait` blocking until a signal arrives.
sleep infinity &
while :; do
	wait
done
