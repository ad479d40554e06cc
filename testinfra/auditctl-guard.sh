#!/bin/sh
# goprov lab guard, installed as auditctl on audit hosts only: those share the
# machine's kernel audit, and "-e 2" would make it immutable until reboot.
refuse() {
	echo "goprov-lab: refusing to lock the machine's kernel audit (-e 2); this host shares it" >&2
	exit 1
}
prev=
for a in "$@"; do
	case "$prev:$a" in
	-e:2 | *:-e2) refuse ;;
	-R:*) grep -qsE '^[[:space:]]*-e[[:space:]]*2' "$a" && refuse ;;
	esac
	prev=$a
done
exec /usr/sbin/auditctl.goprov-real "$@"
