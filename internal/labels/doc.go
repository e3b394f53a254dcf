// Package labels measures model quality against delayed ground truth.
//
// Labels arrive on their own topic minutes to days after the prediction. A [Joiner]
// pairs them by (model, request id) within bounded memory and event-time limits, in
// either arrival order, and counts what it could not pair. Each joined [Pair] goes
// to the [Performance] of its model and window, which reports [Metrics] by
// prediction kind: accuracy, ROC AUC, log loss, label positive rate and mean
// prediction for probabilities and scores; accuracy for classes; MAE, RMSE and mean
// error for regression. Per-partition windows combine with [Performance.Merge].
//
// The metrics are checked against scikit-learn (testdata/README.md). The AUC is
// exact up to [DefaultExactAUCLimit] pairs per window; past it, it comes from
// buckets and carries a computed error bound (see [Metrics.AUCErrorBound]).
package labels
