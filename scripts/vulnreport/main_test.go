package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// scan.json is govulncheck v1.9.0's JSON for this module at go1.26.8 with
// brotli v1.2.6, cut to five vulnerabilities (the first frame of each trace).
func scan(t *testing.T, without string) *report {
	t.Helper()
	data, err := os.ReadFile("testdata/scan.json")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(data), "\n") {
		if without == "" || !strings.Contains(line, without) {
			keep = append(keep, line)
		}
	}
	r, err := read(strings.NewReader(strings.Join(keep, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReport(t *testing.T) {
	tests := []struct {
		name      string
		without   string
		releaseGo string
		ok        bool
		want      []string
		not       []string
	}{
		{"a module the code calls fails", "", "1.26.10", false,
			[]string{"FAIL: github.com/andybalholm/brotli@v1.2.6: GO-2026-6888", "upgrade to v1.2.7",
				"GO-2026-6603 (HTTP/2 server memory exhaustion due to Trailer headers in net/http), called; fixed in go1.26.9",
				"GO-2026-6604 (Root.Mkdir(All) can follow junctions out of the root on Windows in os), imported",
				"go1.26.10 or later fixes them; release images are built with go1.26.10"},
			[]string{"GO-2026-6599"}}, // html/template: required only
		{"the standard library fixed in the release's Go passes", "andybalholm", "1.26.10", true,
			[]string{"release images are built with go1.26.10"}, []string{"FAIL"}},
		{"a release Go older than a fix fails", "andybalholm", "1.26.9", false,
			[]string{"FAIL: release images are built with go1.26.9; these need go1.26.10 or later"}, nil},
		{"no release Go says which to use", "andybalholm", "", true,
			[]string{"build releases with go1.26.10 or later"}, nil},
		{"nothing reached", "stdlib", "1.26.10", false,
			[]string{"standard library (go1.26.8): nothing the code reaches"}, nil},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		ok := scan(t, tc.without).write(&out, tc.releaseGo)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v:\n%s", tc.name, ok, tc.ok, out.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, out.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out.String(), w) {
				t.Errorf("%s: %q in\n%s", tc.name, w, out.String())
			}
		}
	}
}

func TestLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.26.9", "v1.26.10", true}, {"v1.26.10", "1.26.9", false}, {"go1.26", "1.26.0", false},
		{"1.26.10", "1.26.10", false}, {"1.25.12", "1.26.1", true},
	} {
		if got := less(tc.a, tc.b); got != tc.want {
			t.Errorf("less(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestNotGovulncheck(t *testing.T) {
	if _, err := read(strings.NewReader(`{"progress": {"message": "x"}}`)); err == nil {
		t.Error("a stream without a config message was read")
	}
}
