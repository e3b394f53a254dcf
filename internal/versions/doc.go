// Package versions says which versions of a model serve: the mix of versions
// in each window, a version that stopped sending while its model still sends
// (its replicas failed to load, or traffic was routed away from it), and a
// version that appeared.
//
// Labels are bounded: the versions the contract names, then first come at
// most versions.max_others more, then one label, config.VersionOther. A
// [Counts] holds one window's share of a partition's events by version and
// merges across partitions; a [Tracker], on the checking side, follows each
// labelled version across windows and reports check results of kind
// availability.
package versions
