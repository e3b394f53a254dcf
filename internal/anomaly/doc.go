// Package anomaly finds anomalies in the per-window metric vectors of one model.
//
// The column metrics of a model (null ratios, means, quantiles, drift statistics, …)
// are standardised and bundled with PCA; each retained component is forecast one
// step ahead with additive Holt-Winters, and so is each metric's residual outside the
// retained subspace, so that one metric breaking its usual correlation with the
// others is not averaged away. A metric the components do not help forecast (a
// traffic count with a daily cycle of its own, say) is forecast on its own instead.
// A window's score combines how far the components, the residuals and individual
// metrics fall outside their forecasts, and every flagged window names the original
// metrics most to blame with their actual and expected values, the statistic that
// blames each, and in words what it saw.
//
// Window statistics carry sampling noise of known shapes that depends on each
// window's counts: a ratio near 0 is a small count, PSI and its kin have a positive
// bias of about (bins−1)/n, a mean has a standard error. Given each value's Sampling
// (FitSampled, ScoreSampled), the detector floors the spread it expects of every
// metric in every window by what that window's sample alone gives it, removes the
// bias of distance statistics, judges skewed statistics by their own tails, models
// counts on a log scale, and judges a metric constant in training by a count test.
// Without it (Fit, Score) each metric's spread is what its history shows.
//
// Statistics of lasting change watch every metric over its last day of windows: a
// level scan of its departures from a slow reference level (small shifts, drifts, a
// daily pattern arriving late), and a spread scan of its absolute errors (noise
// growing at an unchanged level).
//
// Scores are calibrated on the training history and on errors the model did not
// fit: a model fitted without the history's last rows scores them as live windows,
// and the statistics' tails stretch to what those rows show; no statistic is ever
// scored above what errors that are exactly as expected would give it, which keeps
// a short history from flagging every window after it.
//
// The Detector is fitted once on a history (Fit) and then scores windows one at a
// time (Score), updating its state as it goes and re-estimating the component
// forecasters' parameters as their history grows, as the daemon does; Backtest runs
// the same loop over a table read from CSV.
package anomaly
