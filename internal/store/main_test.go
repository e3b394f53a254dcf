package store

import (
	"testing"

	"go.uber.org/goleak"
)

// The driver runs a goroutine per connection pool; Close must stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
