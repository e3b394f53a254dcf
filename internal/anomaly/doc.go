// Package anomaly finds anomalies in the per-window metric vectors of one model.
//
// The column metrics of a model (null ratios, means, quantiles, drift statistics, …)
// are standardised and bundled with PCA; each retained component is forecast one
// step ahead with additive Holt-Winters, and so is each metric's residual outside the
// retained subspace, so that one metric breaking its usual correlation with the
// others is not averaged away. A window's score combines how far the components, the
// residuals and individual metrics fall outside their forecasts, and every flagged
// window names the original metrics most to blame with their actual and expected
// values.
//
// The Detector is fitted once on a history (Fit) and then scores windows one at a
// time (Score), updating its state as it goes and re-estimating the component
// forecasters' parameters as their history grows, as the daemon does; Backtest runs
// the same loop over a table read from CSV.
package anomaly
