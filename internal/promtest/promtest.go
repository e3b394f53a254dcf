// Package promtest runs Prometheus' promtool from tests: a naming and help lint
// of exposed metrics now, and rule checks where rules are shipped.
package promtest

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// Path returns promtool's path: $SENTINEL_PROMTOOL (make test sets it, installing
// Debian's package when missing), else promtool on $PATH. Without one the test
// is skipped, or fails under CI=true, where make test must have provided it.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SENTINEL_PROMTOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool not found: set SENTINEL_PROMTOOL or run make test, which installs it")
	}
	t.Skip("promtool not found; make test installs it")
	return ""
}

// CheckMetrics runs promtool check metrics over an exposition and fails the test
// with its complaints.
func CheckMetrics(t testing.TB, exposition []byte) {
	t.Helper()
	cmd := exec.Command(Path(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
