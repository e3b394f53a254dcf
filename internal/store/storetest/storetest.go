// Package storetest gives integration tests the ClickHouse server that
// scripts/clickhouse.sh starts.
package storetest

import (
	"os"
	"testing"
)

// DSN returns the test server's DSN from SENTINEL_CLICKHOUSE_DSN. Without one a
// developer's run skips the test, but CI must not pass by skipping: under
// CI=true the test fails.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SENTINEL_CLICKHOUSE_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("SENTINEL_CLICKHOUSE_DSN is unset under CI: start a server with scripts/clickhouse.sh start and export its output")
		}
		tb.Skip("SENTINEL_CLICKHOUSE_DSN is unset: `export $(scripts/clickhouse.sh start)` to run against a real ClickHouse")
	}
	return dsn
}
