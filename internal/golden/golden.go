// Package golden compares test output with versioned files under testdata/:
// `go test ./... -update` rewrites them, and the diff is reviewed like code.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// update is registered once, by the only package that defines it, so that
// every test binary that checks goldens accepts -update.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Updating reports whether the run rewrites goldens, for tests whose golden is
// not a byte comparison (a Prometheus exposition compared by GatherAndCompare).
func Updating() bool { return *update }

// Check compares got with the file at path (under testdata/), rewriting it
// first under -update.
func Check(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("reading golden file: %v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("output differs from %s (go test -update rewrites it; review the diff)\n%s", path, firstDifference(got, want))
	}
}

// Write rewrites the file at path under -update, for goldens compared by
// other means.
func Write(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if !*update {
		return
	}
	if err := os.WriteFile(path, got, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// firstDifference shows the first line that differs, which is usually enough
// to see what moved.
func firstDifference(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + string(gl) + "\n  want: " + string(wl)
		}
	}
	return ""
}
