// Package shadow compares two versions of a model that score the same
// requests: the live one (the contract's shadow.reference) and the one tried
// beside it (shadow.candidate).
//
// A [Join] pairs the two versions' predictions of one request id with the
// label join's machinery (package labels): a pointer-free table per model
// found by a seeded 64-bit hash of the request id, bounded per version with
// FIFO eviction, counting what leaves unpaired. A [Window] accumulates, per
// event-time window, the pairs (how many, how many decisions differ, the
// absolute differences of the predictions in a quantile sketch) and the
// requests only one version scored, merges exactly across partitions, and
// reports them as check results of kind shadow.
package shadow
