package resources

import (
	"os/exec"
	"strings"
	"testing"
)

// Recorded FactsProbe output of hosts of the kinds the seeds run on.
func TestParseFactsSecurityState(t *testing.T) {
	cases := []struct {
		name, out           string
		kernel, selinux, aa string
		profiles            int // -1: not known
	}{
		{"debian apparmor", "Linux\nx86_64\n0\n22\n6.1.0-28-amd64\ndisabled\nY\n34\n", "6.1.0-28-amd64", "disabled", "enabled", 34},
		{"fedora selinux", "Linux\naarch64\n0\n0\n6.11.4-301.fc41.aarch64\nEnforcing\nabsent\n-\n", "6.11.4-301.fc41.aarch64", "enforcing", "disabled", -1},
		{"permissive, apparmor off", "Linux\nx86_64\n0\n0\n5.14.0-427.el9.x86_64\nPermissive\nN\n-\n", "5.14.0-427.el9.x86_64", "permissive", "disabled", -1},
		{"apparmor on, profiles unreadable", "Linux\nx86_64\n1000\n0\n6.8.0-45-generic\ndisabled\nY\n-\n", "6.8.0-45-generic", "disabled", "enabled", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFacts([]byte(tc.out))
			if err != nil {
				t.Fatal(err)
			}
			got := -1
			if f.AppArmorProfiles != nil {
				got = *f.AppArmorProfiles
			}
			if f.Kernel != tc.kernel || f.SELinux != tc.selinux || f.AppArmor != tc.aa || got != tc.profiles {
				t.Errorf("got kernel %q selinux %q apparmor %q profiles %d, want %q %q %q %d", f.Kernel, f.SELinux, f.AppArmor, got, tc.kernel, tc.selinux, tc.aa, tc.profiles)
			}
		})
	}
}

// The probe runs with this machine's sh and reads this machine's kernel.
func TestFactsProbeHere(t *testing.T) {
	out, err := exec.Command("/bin/sh", "-c", FactsProbe).Output()
	if err != nil {
		t.Fatalf("FactsProbe: %v", err)
	}
	f, err := ParseFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	uname, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	if f.Kernel != strings.TrimSpace(string(uname)) {
		t.Errorf("kernel %q, uname -r says %q", f.Kernel, uname)
	}
	if !map[string]bool{"enforcing": true, "permissive": true, "disabled": true}[f.SELinux] {
		t.Errorf("selinux %q", f.SELinux)
	}
	if f.AppArmor != "enabled" && f.AppArmor != "disabled" {
		t.Errorf("apparmor %q", f.AppArmor)
	}
}

// An answer the security probes never give is an error naming the tool and
// quoting it, not a silent "disabled".
func TestParseFactsUnknownAnswers(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"Linux\nx86_64\n0\n22\n6.1.0\nMaybe\nY\n34\n", `getenforce: unrecognised answer "Maybe"`},
		{"Linux\nx86_64\n0\n22\n6.1.0\ndisabled\nyes please\n34\n", `/sys/module/apparmor/parameters/enabled: unrecognised answer "yes please"`},
	} {
		if _, err := ParseFacts([]byte(tc.out)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFacts(%q): got %v, want an error with %q", tc.out, err, tc.want)
		}
	}
}
