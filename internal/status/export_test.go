package status

// KindRank is kindRank, for the test that holds it to check.Kinds.
var KindRank = kindRank
