package ingest

import (
	"testing"

	"go.uber.org/goleak"
)

// kafka-go and kfake both run goroutines per connection; a Close that leaves one
// behind fails the package.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
