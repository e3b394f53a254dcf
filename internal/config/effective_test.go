package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/golden"
)

// TestEffective: the effective configuration of a good file, every default
// filled in, reads back to the same configuration, and is what
// testdata/daemon/sentinel.effective.yml holds (-update rewrites it).
func TestEffective(t *testing.T) {
	d, err := LoadDaemon(filepath.Join("testdata", "daemon", "sentinel.good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Effective()
	if err != nil {
		t.Fatal(err)
	}
	// The models' paths are absolute: the golden holds them relative to
	// this package, wherever the repository is.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "daemon", "sentinel.effective.yml"), bytes.ReplaceAll(out, []byte(wd+string(filepath.Separator)), nil))
	// Read back beside the original, so that relative paths resolve alike.
	path := filepath.Join("testdata", "daemon", "effective.tmp.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	back, err := LoadDaemon(path)
	if err != nil {
		t.Fatalf("the effective configuration does not load: %v\n%s", err, out)
	}
	again, err := back.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, out) {
		t.Errorf("the effective configuration, loaded and written again, changes:\n%s\nwas\n%s", again, out)
	}
}

func TestMaskDSN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"clickhouse://user:s3cret@ch:9000/default", "clickhouse://user:***@ch:9000/default"},
		{"clickhouse://user@ch:9000/default", "clickhouse://user@ch:9000/default"},
		{"clickhouse://ch:9000/default?dial_timeout=1s", "clickhouse://ch:9000/default?dial_timeout=1s"},
		{"", ""},
	} {
		if got := MaskDSN(tt.in); got != tt.want {
			t.Errorf("MaskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
