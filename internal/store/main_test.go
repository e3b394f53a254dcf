package store

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The driver runs a goroutine per connection pool; Close must stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
