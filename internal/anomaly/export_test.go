package anomaly

import "flag"

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// UpdateGoldens tells tests in package anomaly_test whether -update was given; the
// flag can be defined only once per test binary.
func UpdateGoldens() bool { return *update }
