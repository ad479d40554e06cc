package audit

import "github.com/goprov/goprov/resources"

// The facts cache. auditctl -v and ausyscall's two tables change only when
// the audit tools change, yet starting them is most of what audit_rules'
// read costs the host (three programs). So an apply that writes a rules
// file also leaves their output in goprov's root-owned state dir, next to
// hard links to what produced it: auditctl, ausyscall and the libaudit
// ausyscall loads (the tables are compiled into libaudit). A read trusts
// the cache only when the shell's builtin test proves that those names
// still are the very same files ([ A -ef B ]: same device and inode; the
// link keeps the old inode alive, so a package upgrade, which renames a new
// file in, can never come back with the same number), that none of them
// nor /etc/ld.so.cache was modified after the cache was written (-nt), and
// that the cache dir and files are root's and no symlinks. Any doubt, and
// the tools run as before. Image roots never use it: their tools are not
// run at all.

// FactsCacheDir holds the cache (mode 0700, root's).
const FactsCacheDir = "/var/lib/goprov/cache/audit-facts"

// factsCacheHeader is the cache's first line: its format.
const factsCacheHeader = "# goprov audit facts 1"

// factsTools prints auditctl -v's first line and ausyscall's tables, as
// the tools say them now. $a and $s name the tools.
const factsTools = `v=$("$a" -v 2>/dev/null) || :; v=${v%%"
"*}; printf '%s\n' "${v:-` + versionUnknown + `}"
fm
for arch in b64 b32; do echo "@@table $arch"; "$s" "$arch" --dump 2>&1 || true; done`

// factsProbe prints auditctl's version, the machine (uname -m's, from
// /proc where the kernel has it: one program fewer) and ausyscall's
// tables for b64 and b32: from the facts cache when it is current (no
// program started), else from the tools. The cache is sourced in a
// subshell ($(...): a fork, no exec), so a cache that does not parse can
// only fail over to the tools, never end the read.
const factsProbe = findTools + `fm() { { IFS= read -r m </proc/sys/kernel/arch && printf '%s\n' "$m"; } 2>/dev/null || uname -m; }
s=$(command -v ausyscall 2>/dev/null || echo /usr/bin/ausyscall)
c=` + FactsCacheDir + ` x=
if [ -d "$c" ] && [ ! -L "$c" ] && [ -O "$c" ] && [ -f "$c/facts" ] && [ ! -L "$c/facts" ] && [ -O "$c/facts" ] &&
  [ -f "$c/lib" ] && [ ! -L "$c/lib" ] && IFS= read -r l <"$c/lib" && [ -n "$l" ] &&
  [ ! -L "$c/auditctl" ] && [ "$c/auditctl" -ef "$a" ] && [ ! -L "$c/ausyscall" ] && [ "$c/ausyscall" -ef "$s" ] &&
  [ ! -L "$c/libaudit" ] && [ "$c/libaudit" -ef "$l" ] &&
  [ ! "$a" -nt "$c/facts" ] && [ ! "$s" -nt "$c/facts" ] && [ ! "$l" -nt "$c/facts" ] && [ ! /etc/ld.so.cache -nt "$c/facts" ] &&
  IFS= read -r h <"$c/facts" && [ "$h" = '` + factsCacheHeader + `' ]; then
  x=$(. "$c/facts" && [ -n "$v" ] && [ -n "$t" ] && printf '%s\n%s' "$v" "$t") 2>/dev/null || x=
fi
if [ -n "$x" ]; then printf '%s\n' "${x%%"
"*}"; fm; printf '%s\n' "${x#*"
"}"
else ` + factsTools + `
fi`

// factsRefresh writes the facts cache (run as root by an apply, after the
// rules file is in place). It never fails: without a cache, reads run the
// tools. The links are made before the tools run, so that a tool replaced
// in between leaves a cache that no longer matches, never a wrong one.
// Content with a single quote (no tool prints one) is not cached: the
// cache is sourced, and its values are single-quoted.
const factsRefresh = `{ ( set -e
` + findTools + `s=$(command -v ausyscall 2>/dev/null || echo /usr/bin/ausyscall)
c=` + FactsCacheDir + `; d=${c%/*}
[ -x "$a" ] && [ -x "$s" ]
l=$(ldd "$s" | sed -n 's/^[[:space:]]*libaudit\.so[^ ]* => \(\/[^ ]*\) .*/\1/p' | head -n 1)
[ -n "$l" ] && [ -f "$l" ]
[ -d "$d" ] || { mkdir -p -- "$d"; chmod 0700 -- "$d"; }
[ ! -L "$d" ]
n=$(mktemp -d "$d/.audit-facts.XXXXXXXX")
trap 'rm -rf -- "$n"' EXIT
ln -- "$a" "$n/auditctl"; ln -- "$s" "$n/ausyscall"; ln -- "$(readlink -f -- "$l")" "$n/libaudit"
v=$("$a" -v 2>/dev/null); v=${v%%"
"*}
case $v in 'auditctl version '*) ;; *) exit 1 ;; esac
t=$(for arch in b64 b32; do echo "@@table $arch"; "$s" "$arch" --dump 2>&1 || true; done)
case $v$t in *\'*) exit 1 ;; esac
printf '%s\n' "$l" >"$n/lib"
printf '%s\nv='\''%s'\''\nt='\''%s'\''\n' '` + factsCacheHeader + `' "$v" "$t" >"$n/facts"
chmod 0600 -- "$n/lib" "$n/facts"; chmod 0700 -- "$n"
sync
rm -rf -- "$c"; mv -- "$n" "$c"; sync -- "$d" 2>/dev/null || sync
trap - EXIT
) || rm -rf -- ` + FactsCacheDir + `; } >/dev/null 2>&1; :`

// writeOptions are the rules file's write options on h: rules.d is created
// if missing, and on a live host the facts cache is refreshed once the
// file is in place.
func writeOptions(h *resources.Host) resources.WriteOptions {
	o := resources.WriteOptions{MkdirMode: 0o750}
	if h.Root == "" || h.Root == "/" {
		o.After = factsRefresh
	}
	return o
}
