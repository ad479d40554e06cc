package audit

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
)

// The facts cache on a real host (Debian's auditd): what a read prints from
// it is byte for byte what the tools print; a read uses it (a marker put in
// it shows) only while auditctl, ausyscall and libaudit are the files it was
// made from, unmodified since, and the cache is root's own and no symlink;
// otherwise (and with a cache that does not even parse) the tools answer,
// under dash and bash alike.
func TestLabFactsCacheExactAndNeverStale(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	put := func(name, script string) {
		h.Sh(t, "echo "+base64.StdEncoding.EncodeToString([]byte(script))+" | base64 -d >/tmp/"+name)
	}
	put("facts.sh", factsProbe)
	put("refresh.sh", factsRefresh)
	h.Sh(t, "rm -rf "+FactsCacheDir)
	tools := h.Sh(t, "sh /tmp/facts.sh")
	if !strings.HasPrefix(tools, "auditctl version ") || !strings.Contains(tools, "@@table b32\n") {
		t.Fatalf("the tools' facts: %q", tools)
	}
	h.Sh(t, "sh /tmp/refresh.sh")
	if got := h.ShTrim(t, "stat -c '%a %u %F' "+FactsCacheDir+" "+FactsCacheDir+"/facts "+FactsCacheDir+"/lib"); got != "700 0 directory\n600 0 regular file\n600 0 regular file" {
		t.Errorf("cache modes: %q", got)
	}
	for _, sh := range []string{"sh", "bash"} {
		if got := h.Sh(t, sh+" /tmp/facts.sh"); got != tools {
			t.Errorf("%s: from the cache\n%q\nfrom the tools\n%q", sh, got, tools)
		}
	}
	const marker = "auditctl version 0.0-from-the-cache"
	// Each case changes one thing after a fresh cache holding the marker.
	fresh := func() {
		h.Sh(t, "sh /tmp/refresh.sh && sed -i 's/^v=.*/v='\\''"+marker+"'\\''/' "+FactsCacheDir+"/facts")
		if got := h.Sh(t, "sh /tmp/facts.sh"); !strings.HasPrefix(got, marker+"\n") {
			t.Fatalf("a fresh cache is not used: %q", got)
		}
	}
	lib := `l=$(cat ` + FactsCacheDir + `/lib); l=$(readlink -f "$l"); `
	renew := func(p string) string { return p + `cp -p "$p" "$p.new" && mv -f "$p.new" "$p"` } // new inode, same mtime
	for _, tc := range []struct{ name, change string }{
		{"auditctl upgraded", renew("p=/usr/sbin/auditctl; ")},
		{"ausyscall upgraded", renew("p=/usr/bin/ausyscall; ")},
		{"libaudit upgraded", lib + renew(`p=$l; `)},
		{"auditctl modified in place", "touch /usr/sbin/auditctl"},
		{"ld.so.cache rewritten", "touch /etc/ld.so.cache"},
		{"facts not root's", "chown 1:1 " + FactsCacheDir + "/facts"},
		{"facts a symlink", "mv " + FactsCacheDir + "/facts /tmp/planted && ln -s /tmp/planted " + FactsCacheDir + "/facts"},
		{"cache dir a symlink", "mv " + FactsCacheDir + " /tmp/planted.d && ln -s /tmp/planted.d " + FactsCacheDir},
		{"facts do not parse", `printf '%s\nv='\''x\n' '` + factsCacheHeader + `' >` + FactsCacheDir + "/facts"},
		{"facts of another format", "sed -i 1d " + FactsCacheDir + "/facts"},
	} {
		fresh()
		h.Sh(t, tc.change)
		for _, sh := range []string{"sh", "bash"} {
			if got := h.Sh(t, sh+" /tmp/facts.sh"); got != tools {
				t.Errorf("%s, %s: got\n%.200q\nwant the tools' answer\n%.200q", tc.name, sh, got, tools)
			}
		}
		h.Sh(t, "rm -rf /tmp/planted /tmp/planted.d "+FactsCacheDir)
	}
}
