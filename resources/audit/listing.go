package audit

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Listing knows what shapes the line `auditctl -l` prints for a rule on one
// host: auditctl's major version (4.x adds a perm's syscalls to rules with
// an arch), the syscall tables of its architectures (ausyscall --dump; -S
// lists syscalls by number), and the native arch used when a rule names
// none. It ports audit-userspace's listing (src/auditctl-listing.c) and the
// parsing that feeds it (lib/libaudit.c, src/auditctl.c).
type Listing struct {
	Major  int                      // auditctl's major version
	Native string                   // "b64" or "b32"
	Tables map[string]*SyscallTable // by "b64" / "b32"
	// IDs are the host's ids of the user ("u:NAME") and group ("g:NAME")
	// names the rules use; a name it lacks is refused ("Unknown user").
	// nil: not known, and a name matches any id.
	IDs map[string]string
}

// SyscallTable maps syscall names and numbers of one architecture.
type SyscallTable struct {
	num  map[string]int
	name map[int]string
}

// ParseAusyscall reads `ausyscall ARCH --dump` ("NUMBER<TAB>NAME" lines
// after a "Using … syscall table:" header).
func ParseAusyscall(out string) (*SyscallTable, error) {
	t := &SyscallTable{num: map[string]int{}, name: map[int]string{}}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		t.num[f[1]], t.name[n] = n, f[1]
	}
	if len(t.num) == 0 {
		return nil, fmt.Errorf("ausyscall --dump: no syscalls in %q", firstLine(out))
	}
	return t, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// Listed is the kernel's listing of a rule: the exact line, or (when the
// rule names a user or group that the host resolves) a pattern.
type Listed struct {
	Line    string
	Names   []string // user/group names resolved on the host, if any
	pattern *regexp.Regexp
}

// Matches reports whether a line of `auditctl -l` is this rule.
func (l Listed) Matches(line string) bool {
	if l.pattern != nil {
		return l.pattern.MatchString(line)
	}
	return l.Line == line
}

var (
	archNames = map[string]string{
		"b64": "b64", "x86_64": "b64", "amd64": "b64",
		"b32": "b32", "i386": "b32", "i486": "b32", "i586": "b32", "i686": "b32",
	}
	uidFields = map[string]bool{"uid": true, "euid": true, "suid": true, "fsuid": true, "auid": true, "loginuid": true, "obj_uid": true}
	gidFields = map[string]bool{"gid": true, "egid": true, "sgid": true, "fsgid": true, "obj_gid": true}
	// Fields that hold strings (subj_*, obj_* labels, paths, exe).
	stringFields = map[string]bool{"subj_user": true, "subj_role": true, "subj_type": true, "subj_sen": true, "subj_clr": true,
		"obj_user": true, "obj_role": true, "obj_type": true, "obj_lev_low": true, "obj_lev_high": true, "path": true, "dir": true, "exe": true}
	// Fields of signed decimal numbers.
	numFields = map[string]bool{"pid": true, "ppid": true, "pers": true, "sessionid": true, "devmajor": true, "devminor": true,
		"inode": true, "success": true, "saddr_fam": true}
	exitOnly = map[string]bool{"exit": true, "path": true, "dir": true, "obj_user": true, "obj_role": true, "obj_type": true,
		"obj_lev_low": true, "obj_lev_high": true, "devmajor": true, "devminor": true, "inode": true, "success": true, "ppid": true, "filetype": true}
	fileTypes = map[string]int{"socket": 0o140000, "link": 0o120000, "file": 0o100000, "block": 0o60000, "dir": 0o40000, "character": 0o20000, "fifo": 0o10000}
	fsTypes   = map[string]uint32{"tracefs": 0x74726163, "debugfs": 0x64626720}
	// -C pairs as auditctl lists them (print_field_cmp); written either way.
	comparePairs = [][2]string{{"uid", "obj_uid"}, {"gid", "obj_gid"}, {"euid", "obj_uid"}, {"egid", "obj_gid"}, {"auid", "obj_uid"},
		{"suid", "obj_uid"}, {"sgid", "obj_gid"}, {"fsuid", "obj_uid"}, {"fsgid", "obj_gid"}, {"uid", "auid"}, {"uid", "euid"},
		{"uid", "fsuid"}, {"uid", "suid"}, {"auid", "fsuid"}, {"auid", "suid"}, {"auid", "euid"}, {"euid", "suid"}, {"euid", "fsuid"},
		{"suid", "fsuid"}, {"gid", "egid"}, {"gid", "fsgid"}, {"gid", "sgid"}, {"egid", "fsgid"}, {"egid", "sgid"}, {"sgid", "fsgid"}}
	// What a perm letter adds as syscalls on auditd 4 (lib/permtab.h, v4.0.2).
	permSyscalls = map[rune]string{
		'x': "execve",
		'w': "rename,mkdir,rmdir,creat,link,unlink,symlink,mknod,mkdirat,mknodat,unlinkat,renameat,linkat,symlinkat,renameat2,acct,swapon,quotactl,truncate,ftruncate,bind,fallocate,open,openat,openat2",
		'r': "readlink,quotactl,listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr,readlinkat,open,openat,openat2",
		'a': "chmod,fchmod,chown,lchown,fchown,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr,fchownat,fchmodat,link,linkat",
	}
)

// nameMark stands for a user or group name in a listed line.
const nameMark = "\x00"

// Of returns the line auditctl -l prints for r on the host, or why
// auditctl or the kernel would refuse it (in auditctl's words where it has
// them).
func (l Listing) Of(r Rule) (Listed, error) {
	if r.Watch {
		return l.watch(r)
	}
	s := sysRule{l: l, r: r, calls: map[int]bool{}, watchLike: r.List == "exit"}
	for _, it := range r.Items {
		if err := s.add(it); err != nil {
			return Listed{}, err
		}
	}
	return s.line()
}

// sysRule accumulates a syscall rule as auditctl builds it.
type sysRule struct {
	l                 Listing
	r                 Rule
	arch, archOp      string
	calls             map[int]bool
	all, syscallAdded bool
	fields, names     []string
	watchLike         bool // only dir|path and perm so far: listed as -w
	perms, watchPath  string
}

func (s *sysRule) add(it Item) error {
	switch {
	case it.Opt == "-S":
		return s.syscalls(it.Name)
	case it.Opt == "-C":
		f, err := compareField(s.r, it)
		s.fields, s.watchLike = append(s.fields, f), false
		return err
	case it.Name == "arch":
		a, err := archOf(it, s.syscallAdded)
		s.arch, s.archOp, s.watchLike = a, it.Op, false
		return err
	}
	f, name, err := fieldOf(s.r, it)
	if err != nil {
		return err
	}
	if name != "" && s.l.IDs != nil {
		if f, err = s.l.resolve(f, it.Name, name); err != nil {
			return err
		}
		name = ""
	}
	switch it.Name {
	case "perm":
		s.perms = strings.TrimPrefix(f, " -F perm=")
		if s.l.Major >= 4 && s.arch != "" {
			if err := s.l.addPermSyscalls(s.arch, s.perms, s.calls); err != nil {
				return err
			}
			s.syscallAdded = true
		}
	case "dir", "path":
		s.watchPath = it.Value
	default:
		s.watchLike = false
	}
	if name != "" {
		s.names = append(s.names, name)
	}
	s.fields = append(s.fields, f)
	return nil
}

func (s *sysRule) syscalls(list string) error {
	if s.r.List != "exit" {
		return fmt.Errorf("syscall auditing cannot be put on the %s list", s.r.List)
	}
	t, err := s.l.table(s.arch)
	if err != nil {
		return err
	}
	for _, c := range strings.Split(list, ",") {
		if c == "all" { // every bit of the mask: still a watch (is_watch)
			s.all, s.syscallAdded = true, true
			continue
		}
		s.watchLike = false
		n, ok := t.num[c]
		if !ok {
			if v, err := strconv.Atoi(c); err == nil && v >= 0 {
				n, ok = v, true
			}
		}
		if !ok {
			return fmt.Errorf("Syscall name unknown: %s", c)
		}
		s.calls[n] = true
		s.syscallAdded = true
	}
	return nil
}

func (s *sysRule) line() (Listed, error) {
	all := s.all || !s.syscallAdded
	if s.watchLike && s.perms != "" && s.watchPath != "" && all {
		// print_rule on a watch: its fields in order, path as -w, perm as -p.
		var b strings.Builder
		for _, it := range s.r.Items {
			if it.Opt != "-F" {
				continue
			}
			if it.Name == "perm" {
				b.WriteString(" -p " + s.perms)
			} else {
				b.WriteString("-w " + it.Value)
			}
		}
		return Listed{Line: b.String() + watchKeys(s.r.Keys)}, nil
	}
	var b strings.Builder
	b.WriteString("-a " + s.r.Action + "," + s.r.List)
	if s.arch != "" {
		b.WriteString(" -F arch" + s.archOp + s.arch)
	}
	if s.r.List == "exit" {
		if all {
			b.WriteString(" -S all")
		} else if err := s.l.writeSyscalls(&b, s.arch, s.calls); err != nil {
			return Listed{}, err
		}
	}
	for _, f := range s.fields {
		b.WriteString(f)
	}
	for _, k := range s.r.Keys {
		b.WriteString(" -F key=" + k)
	}
	return listed(b.String(), s.names), nil
}

func (l Listing) watch(r Rule) (Listed, error) {
	perms := "rwxa"
	if r.Perms != "" {
		p, ok := normPerms(r.Perms)
		if !ok {
			return Listed{}, fmt.Errorf("-p %s: permissions are some of r, w, x, a", r.Perms)
		}
		perms = p
	}
	return Listed{Line: "-w " + trimSlash(r.Path) + " -p " + perms + watchKeys(r.Keys)}, nil
}

func watchKeys(keys []string) string {
	s := ""
	for _, k := range keys {
		s += " -k " + k
	}
	return s
}

// listed builds a Listed; names become a pattern matching any id.
func listed(line string, names []string) Listed {
	if len(names) == 0 {
		return Listed{Line: line}
	}
	parts := strings.Split(line, nameMark)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return Listed{Line: strings.ReplaceAll(line, nameMark, "ID"), Names: names,
		pattern: regexp.MustCompile("^" + strings.Join(parts, "-?[0-9]+") + "$")}
}

// resolve puts the host's id of a user or group name into a field.
func (l Listing) resolve(f, field, name string) (string, error) {
	key, what := "u:"+name, "user"
	if gidFields[field] {
		key, what = "g:"+name, "group"
	}
	id, ok := l.IDs[key]
	if !ok {
		return "", fmt.Errorf("Unknown %s: %s", what, name)
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return "", fmt.Errorf("%s %s: id %q: %w", what, name, id, err)
	}
	return strings.Replace(f, nameMark, strconv.Itoa(int(int32(uint32(n)))), 1), nil
}

// Names are the user and group names a rule gives in uid and gid fields,
// as "u:NAME" and "g:NAME".
func (r Rule) Names() []string {
	var out []string
	for _, it := range r.Items {
		n := canonField(it.Name)
		if it.Opt != "-F" || !uidFields[n] && !gidFields[n] {
			continue
		}
		if _, num := parseInt(it.Value); num || it.Value == "unset" && uidFields[n] {
			continue
		}
		if gidFields[n] {
			out = append(out, "g:"+it.Value)
		} else {
			out = append(out, "u:"+it.Value)
		}
	}
	return out
}

func (l Listing) table(arch string) (*SyscallTable, error) {
	if arch == "" {
		arch = l.Native
	}
	t := l.Tables[arch]
	if t == nil {
		return nil, fmt.Errorf("no syscall table for arch %s on this host (ausyscall)", arch)
	}
	return t, nil
}

// addPermSyscalls adds what auditd 4's permtab gives a perm, skipping the
// syscalls the arch lacks (filter_supported_syscalls).
func (l Listing) addPermSyscalls(arch, perms string, calls map[int]bool) error {
	t, err := l.table(arch)
	if err != nil {
		return err
	}
	for _, c := range perms {
		for _, s := range strings.Split(permSyscalls[c], ",") {
			if n, ok := t.num[s]; ok {
				calls[n] = true
			}
		}
	}
	return nil
}

func (l Listing) writeSyscalls(b *strings.Builder, arch string, calls map[int]bool) error {
	t, err := l.table(arch)
	if err != nil {
		return err
	}
	nums := make([]int, 0, len(calls))
	for n := range calls {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for i, n := range nums {
		sep := ","
		if i == 0 {
			sep = " -S "
		}
		name, ok := t.name[n]
		if !ok {
			name = strconv.Itoa(n)
		}
		b.WriteString(sep + name)
	}
	return nil
}

func archOf(it Item, syscallAdded bool) (string, error) {
	if syscallAdded {
		return "", fmt.Errorf("-F arch=%s: arch must come before the syscalls (-S) it applies to", it.Value)
	}
	if it.Op != "=" && it.Op != "!=" {
		return "", fmt.Errorf("-F arch%s%s: arch takes only = or !=", it.Op, it.Value)
	}
	a, ok := archNames[it.Value]
	if !ok {
		return "", fmt.Errorf("-F arch=%s: unknown arch on this host (b64, b32, x86_64, i386)", it.Value)
	}
	return a, nil
}

func compareField(r Rule, it Item) (string, error) {
	if it.Op != "=" && it.Op != "!=" {
		return "", fmt.Errorf("-C %s%s%s: comparisons take only = or !=", it.Name, it.Op, it.Value)
	}
	if r.List != "exit" {
		return "", fmt.Errorf("-C %s%s%s: comparisons work only on the exit list", it.Name, it.Op, it.Value)
	}
	a, b := canonField(it.Name), canonField(it.Value)
	for _, p := range comparePairs {
		if p == [2]string{a, b} || p == [2]string{b, a} {
			return " -C " + p[0] + it.Op + p[1], nil
		}
	}
	return "", fmt.Errorf("-C %s%s%s: fields that cannot be compared", it.Name, it.Op, it.Value)
}

func canonField(n string) string {
	if n == "loginuid" {
		return "auid"
	}
	return n
}

// fieldOf formats -F NAME OP VALUE as auditctl lists it; name is set when
// the value is a user or group name the host resolves.
func fieldOf(r Rule, it Item) (f, name string, err error) {
	n, op, v := canonField(it.Name), it.Op, it.Value
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("-F %s%s%s: %s", it.Name, op, v, why)
	}
	if exitOnly[n] && r.List != "exit" {
		return bad("this field works only on the exit list")
	}
	out := func(val string) (string, string, error) { return " -F " + n + op + val, "", nil }
	switch {
	case uidFields[n] || gidFields[n]:
		if x, ok := parseInt(v); ok {
			return out(strconv.Itoa(int(int32(uint32(x)))))
		}
		if v == "unset" && uidFields[n] {
			return out("-1")
		}
		return " -F " + n + op + nameMark, v, nil
	case n == "exit":
		return exitField(n, op, v, bad)
	case n == "a0" || n == "a1" || n == "a2" || n == "a3":
		x, ok := parseInt(v)
		if !ok {
			return bad("a number is needed")
		}
		return out(fmt.Sprintf("0x%X", uint32(x)))
	case n == "perm":
		p, ok := normPerms(v)
		if !ok || op != "=" {
			return bad("permissions are some of r, w, x, a, with =")
		}
		if r.List != "exit" && r.List != "exclude" {
			return bad("perm works only on the exit list")
		}
		return out(p)
	case n == "msgtype":
		if r.List != "exclude" && r.List != "user" {
			return bad("msgtype works only on the exclude and user lists")
		}
		return out(v)
	case n == "filetype":
		t, ok := fileTypes[v]
		if !ok {
			return bad("unknown file type")
		}
		return out(strconv.Itoa(t))
	case n == "fstype":
		return fsTypeField(n, op, v, bad)
	case stringFields[n]:
		if n == "exe" && op != "=" && op != "!=" {
			return bad("exe takes only = or !=")
		}
		return out(v)
	case numFields[n]:
		return numField(n, op, v, bad)
	}
	return bad("unknown field")
}

type badFunc func(why string) (string, string, error)

func exitField(n, op, v string, bad badFunc) (string, string, error) {
	x, ok := parseInt(v)
	if !ok {
		e, known := errnoNums[strings.TrimPrefix(v, "-")]
		if !known {
			return bad("unknown errno name")
		}
		if x = int64(e); strings.HasPrefix(v, "-") {
			x = -x
		}
	}
	val := int32(uint32(x))
	if e := errnoName(int(-val)); val < 0 && e != "" {
		return " -F " + n + op + "-" + e, "", nil
	}
	return " -F " + n + op + strconv.Itoa(int(val)), "", nil
}

func fsTypeField(n, op, v string, bad badFunc) (string, string, error) {
	if x, ok := parseInt(v); ok {
		for name, t := range fsTypes {
			if uint32(x) == t {
				return " -F " + n + op + name, "", nil
			}
		}
		return " -F " + n + op + strconv.Itoa(int(int32(uint32(x)))), "", nil
	}
	if _, ok := fsTypes[v]; !ok {
		return bad("unknown file system type")
	}
	return " -F " + n + op + v, "", nil
}

func numField(n, op, v string, bad badFunc) (string, string, error) {
	if n == "sessionid" && v == "unset" {
		return " -F " + n + op + "-1", "", nil
	}
	x, ok := parseInt(v)
	if !ok || strings.HasPrefix(v, "-") && n != "sessionid" {
		return bad("a number is needed")
	}
	if n == "inode" {
		return " -F " + n + op + strconv.FormatUint(uint64(uint32(x)), 10), "", nil
	}
	return " -F " + n + op + strconv.Itoa(int(int32(uint32(x)))), "", nil
}

// parseInt reads a number as strtol/strtoul with base 0 do (0x hex, 0 octal).
func parseInt(v string) (int64, bool) {
	if v == "" || !(v[0] >= '0' && v[0] <= '9' || len(v) > 1 && v[0] == '-' && v[1] >= '0' && v[1] <= '9') {
		return 0, false
	}
	x, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		u, err2 := strconv.ParseUint(v, 0, 64)
		if err2 != nil {
			return 0, false
		}
		x = int64(u)
	}
	return x, true
}

var errnoByNum = func() map[int]string {
	m := map[int]string{}
	for name, n := range errnoNums {
		if old, ok := m[n]; !ok || name < old {
			m[n] = name
		}
	}
	return m
}()

func errnoName(n int) string { return errnoByNum[n] }
