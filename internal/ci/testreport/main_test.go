package main

import (
	"bytes"
	"strings"
	"testing"
)

const (
	passEv = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
`
	skipEv = `{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    x_test.go:9: no lab here\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
`
	failEv = `{"Action":"run","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    x_test.go:12: boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`
	okPkg    = `{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}` + "\n" + `{"Action":"pass","Package":"p"}` + "\n"
	buildErr = `{"ImportPath":"q","Action":"build-output","Output":"q/x.go:1:1: syntax error\n"}
{"ImportPath":"q","Action":"build-fail"}
{"Action":"output","Package":"q","Output":"FAIL\tq [build failed]\n"}
{"Action":"fail","Package":"q"}
`
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		strict   bool
		wantCode int
		want     []string
		dontWant []string
	}{
		{"pass", passEv + okPkg, true, 0, []string{"ok  \tp", "1 passed, 0 failed, 0 skipped"}, []string{"=== RUN"}},
		{"skip outside CI", passEv + skipEv + okPkg, false, 0, []string{"no lab here", "1 passed, 0 failed, 1 skipped"}, nil},
		{"skip under CI fails", passEv + skipEv + okPkg, true, 1, []string{"every test must run", "p TestB"}, nil},
		{"failure", passEv + failEv, false, 1, []string{"boom", "1 passed, 1 failed, 0 skipped"}, nil},
		{"build error", passEv + okPkg + buildErr, false, 1, []string{"syntax error", "[build failed]"}, nil},
		{"nothing ran", okPkg, false, 1, []string{"no test ran"}, nil},
		{"not json", "go: downloading x\n" + passEv + okPkg, false, 0, []string{"go: downloading x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(strings.NewReader(tc.in), &out, tc.strict)
			if code != tc.wantCode {
				t.Errorf("code %d, want %d\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
