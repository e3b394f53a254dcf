package check

import "github.com/sentinel-ml/sentinel/internal/config"

// Names of the metrics, shared by the checks that report them and everything
// that reads them. Drift metric names are built by DriftMetric.
const (
	Events            = "events"
	LatencyP50        = "latency_ms_p50"
	LatencyP95        = "latency_ms_p95"
	LatencyP99        = "latency_ms_p99"
	NullRatio         = "null_ratio"
	WrongTypeRatio    = "wrong_type_ratio"
	NaNRatio          = "nan_ratio"
	InfRatio          = "inf_ratio"
	OutOfRangeRatio   = "out_of_range_ratio"
	Mean              = "mean"
	UnknownCategory   = "unknown_category_ratio"
	MissingRatio      = "missing_ratio"
	TypeMismatch      = "type_mismatch"
	KSStatistic       = "ks_statistic"
	Wasserstein       = "wasserstein"
	Chi2Statistic     = "chi2_statistic"
	UnexpectedFields  = "unexpected_fields"
	KeyedMismatch     = "keyed_mismatch_ratio"
	NonFiniteFeatures = "nonfinite_feature_ratio"
	BadLabels         = "bad_labels"
	Labelled          = "labelled"
	Accuracy          = "accuracy"
	AUC               = "auc"
	LogLoss           = "log_loss"
	LabelPositiveRate = "label_positive_rate"
	MeanPrediction    = "mean_prediction"
	MAE               = "mae"
	RMSE              = "rmse"
	MeanError         = "mean_error"
	EstimatedAccuracy = "estimated_accuracy"
	EstimatedAUC      = "estimated_auc"
	AccuracyGap       = "accuracy_gap"
	AUCGap            = "auc_gap"
	SecondsSinceEvent = "seconds_since_last_event"
	ModelAgeSeconds   = "model_age_seconds"
	Score             = "score"
	// Shadow pairs and version availability.
	Pairs             = "pairs"
	DisagreementRatio = "disagreement_ratio"
	AbsDifferenceMean = "abs_difference_mean"
	AbsDifferenceP50  = "abs_difference_p50"
	AbsDifferenceP95  = "abs_difference_p95"
	UnpairedRatio     = "unpaired_ratio"
	ReferenceOnly     = "reference_only"
	CandidateOnly     = "candidate_only"
	Evicted           = "evicted"
	EventShare        = "event_share"
	NewVersion        = "new_version"
	// A version's own profile, and a canary against its reference.
	ErrorRatio         = "error_ratio"
	PredictionP50      = "prediction_p50"
	PredictionP95      = "prediction_p95"
	PredictionDrift    = "prediction_drift"
	ErrorRatioIncrease = "error_ratio_increase"
	NaNRatioIncrease   = "nonfinite_ratio_increase"
	LatencyP95Ratio    = "latency_ms_p95_ratio"
	LatencyP99Ratio    = "latency_ms_p99_ratio"
	AccuracyLoss       = "accuracy_loss"
	AUCLoss            = "auc_loss"
	MAEIncrease        = "mae_increase"
	SplitPValue        = "split_p_value"
)

// Against is what a drift statistic compares the window with.
type Against int

const (
	// VsPrevious compares with the previous window.
	VsPrevious Against = iota
	// VsReference compares with the previous reference period.
	VsReference
)

// DriftMetric names a drift result: "psi_vs_previous".
func DriftMetric(m config.DriftMethod, a Against) string {
	if a == VsReference {
		return string(m) + "_vs_reference"
	}
	return string(m) + "_vs_previous"
}

// DriftMethods lists the drift methods, in the order the catalogue gives them.
func DriftMethods() []config.DriftMethod {
	return []config.DriftMethod{config.PSI, config.JSDivergence, config.LInfinity, config.KSPValue,
		config.WassersteinNormed, config.Chi2PValue}
}

func numericOnly() []config.FeatureType { return []config.FeatureType{config.Numeric} }

// categoricalish are the types compared by category counts.
func categoricalish() []config.FeatureType {
	return []config.FeatureType{config.Categorical, config.Boolean}
}

// Metrics returns the catalogue: every metric a check can report. It is one
// table, kept whole so that a reader sees every metric and its rules in one place.
func Metrics() []Metric {
	ms := []Metric{
		{Kind: Quality, Name: Events, Scope: OfModel, Unit: "count", Watch: Watched,
			Help: "Events accepted into the window."},
		{Kind: Quality, Name: LatencyP50, Scope: OfModel, Unit: "milliseconds",
			Help: "Median serving latency reported by the events of the window."},
		{Kind: Quality, Name: LatencyP95, Scope: OfModel, Unit: "milliseconds",
			Help: "95th percentile of serving latency in the window."},
		{Kind: Quality, Name: LatencyP99, Scope: OfModel, Unit: "milliseconds", Watch: Watched,
			Help: "99th percentile of serving latency in the window."},
		{Kind: Quality, Name: NullRatio, Scope: OfFeature, Unit: "ratio", Threshold: ByContract, Watch: Watched,
			Help: "Share of the window's events whose value of the feature is null (threshold: max_null_rate, 0 when not nullable)."},
		{Kind: Quality, Name: WrongTypeRatio, Scope: OfFeature, Unit: "ratio", Threshold: Always, Watch: Watched,
			Help: "Share of events whose value is not of the feature's contract type."},
		{Kind: Quality, Name: NaNRatio, Scope: OfFeature, Types: numericOnly(), Unit: "ratio",
			Help: "Share of events whose numeric value is NaN."},
		{Kind: Quality, Name: InfRatio, Scope: OfFeature, Types: numericOnly(), Unit: "ratio",
			Help: "Share of events whose numeric value is +Inf or -Inf."},
		{Kind: Quality, Name: OutOfRangeRatio, Scope: OfFeature, Types: numericOnly(), Unit: "ratio", Threshold: ByContract, Watch: Watched,
			Help: "Share of events whose value is outside the contract's min/max."},
		{Kind: Quality, Name: Mean, Scope: OfFeature, Types: numericOnly(), Unit: "value", Watch: Watched,
			Help: "Mean of the feature's finite values in the window."},
		{Kind: Quality, Name: UnknownCategory, Scope: OfFeature, Types: []config.FeatureType{config.Categorical}, Unit: "ratio",
			Threshold: ByContract, Watch: Watched,
			Help: "Share of events whose category is not among the contract's categories."},
		{Kind: Quality, Name: MissingRatio, Scope: OfPrediction, Unit: "ratio", Watch: Watched,
			Help: "Share of events that carry no prediction."},
		{Kind: Quality, Name: Mean, Scope: OfPrediction, Unit: "value", Watch: Watched,
			Help: "Mean of the window's finite predictions."},

		{Kind: Skew, Name: MissingRatio, Scope: OfFeature, Unit: "ratio", Threshold: Always, Watch: WatchedWithThreshold,
			Help: "Share of events in which the feature is absent (schema skew: serving does not send it)."},
		{Kind: Skew, Name: TypeMismatch, Scope: OfFeature, Unit: "ratio", Threshold: Always, Watch: WatchedWithThreshold,
			Help: "Share of present values of the wrong type: above half, the producer changed the feature's type (schema skew)."},
		{Kind: Skew, Name: string(config.PSI), Scope: OfFeature, Method: config.PSI, Unit: "statistic", Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "Population stability index of the window against the training baseline."},
		{Kind: Skew, Name: string(config.JSDivergence), Scope: OfFeature, Method: config.JSDivergence, Unit: "bits", Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "Jensen-Shannon divergence of the window against the training baseline."},
		{Kind: Skew, Name: KSStatistic, Scope: OfFeature, Types: numericOnly(), Unit: "statistic",
			Help: "Kolmogorov-Smirnov statistic of the window against the training baseline."},
		{Kind: Skew, Name: string(config.KSPValue), Scope: OfFeature, Types: numericOnly(), Method: config.KSPValue, Unit: "p-value",
			Breach: Below, Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "p-value of the Kolmogorov-Smirnov test of the window against the training baseline."},
		{Kind: Skew, Name: Wasserstein, Scope: OfFeature, Types: numericOnly(), Unit: "value",
			Help: "Wasserstein-1 distance of the window from the training baseline, in the feature's units."},
		{Kind: Skew, Name: string(config.WassersteinNormed), Scope: OfFeature, Types: numericOnly(), Method: config.WassersteinNormed,
			Unit: "statistic", Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "Wasserstein-1 distance from the training baseline in baseline standard deviations."},
		{Kind: Skew, Name: string(config.LInfinity), Scope: OfFeature, Types: categoricalish(), Method: config.LInfinity, Unit: "ratio",
			Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "Largest difference in any category's share between the window and the training baseline."},
		{Kind: Skew, Name: Chi2Statistic, Scope: OfFeature, Types: categoricalish(), Unit: "statistic",
			Help: "Chi-square statistic of the window's categories against the training baseline."},
		{Kind: Skew, Name: string(config.Chi2PValue), Scope: OfFeature, Types: categoricalish(), Method: config.Chi2PValue, Unit: "p-value",
			Breach: Below, Threshold: ByMethod, Watch: WatchedWithThreshold,
			Help: "p-value of the chi-square test of the window's categories against the training baseline."},
		{Kind: Skew, Name: KeyedMismatch, Scope: OfFeature, Unit: "ratio", Threshold: Always, Watch: WatchedWithThreshold,
			Help: "Share of requests whose served value differs from the offline value of the same request (keyed_skew.max_mismatch_ratio)."},
		{Kind: Skew, Name: UnexpectedFields, Scope: OfModel, Unit: "count", Threshold: Always,
			Help: "Values of fields the contract does not name (schema skew: serving sends features training did not have)."},

		{Kind: Numerical, Name: NonFiniteFeatures, Scope: OfModel, Unit: "ratio", Threshold: Always, Watch: Watched,
			Help: "Share of numeric feature values that are NaN or infinite."},
		{Kind: Numerical, Name: NaNRatio, Scope: OfPrediction, Unit: "ratio", Threshold: Always, Watch: Watched,
			Help: "Share of predictions that are NaN."},
		{Kind: Numerical, Name: InfRatio, Scope: OfPrediction, Unit: "ratio", Threshold: Always, Watch: Watched,
			Help: "Share of predictions that are infinite."},
		{Kind: Numerical, Name: OutOfRangeRatio, Scope: OfPrediction, Unit: "ratio", Threshold: Always, Watch: Watched,
			Help: "Share of probability predictions outside [0, 1]."},

		{Kind: Performance, Name: BadLabels, Scope: OfPrediction, Unit: "count", Threshold: Always,
			Help: "Labels that could not be read for the model's prediction kind."},
		{Kind: Performance, Name: Labelled, Scope: OfPrediction, Unit: "count",
			Help: "Predictions joined with their label in the window."},
		{Kind: Performance, Name: Accuracy, Scope: OfPrediction, Unit: "ratio", Watch: Watched,
			Help: "Accuracy over the labels joined in the window."},
		{Kind: Performance, Name: AUC, Scope: OfPrediction, Unit: "ratio", Watch: Watched,
			Help: "Area under the ROC curve over the labels joined in the window."},
		{Kind: Performance, Name: LogLoss, Scope: OfPrediction, Unit: "statistic",
			Help: "Log loss over the labels joined in the window."},
		{Kind: Performance, Name: LabelPositiveRate, Scope: OfPrediction, Unit: "ratio",
			Help: "Share of positive labels among those joined in the window."},
		{Kind: Performance, Name: MeanPrediction, Scope: OfPrediction, Unit: "value",
			Help: "Mean prediction of the labelled requests."},
		{Kind: Performance, Name: MAE, Scope: OfPrediction, Unit: "value", Watch: Watched,
			Help: "Mean absolute error over the labels joined in the window."},
		{Kind: Performance, Name: RMSE, Scope: OfPrediction, Unit: "value", Watch: Watched,
			Help: "Root mean squared error over the labels joined in the window."},
		{Kind: Performance, Name: MeanError, Scope: OfPrediction, Unit: "value",
			Help: "Mean of prediction minus label over the labels joined in the window."},
		{Kind: Performance, Name: EstimatedAccuracy, Scope: OfPrediction, Unit: "ratio", Watch: Watched,
			Help: "Accuracy the window's predictions expect from their calibrated probabilities (CBPE), before any label arrives; models whose baseline has a calibration."},
		{Kind: Performance, Name: EstimatedAUC, Scope: OfPrediction, Unit: "ratio", Watch: Watched,
			Help: "ROC AUC the window's predictions expect from their calibrated probabilities (CBPE), before any label arrives."},
		{Kind: Performance, Name: AccuracyGap, Scope: OfPrediction, Unit: "ratio", Threshold: Always,
			Help: "Estimated accuracy of the window's predictions less the accuracy over the labels joined in it (prediction.max_quality_gap; breached only when the shortfall is significant for the labels)."},
		{Kind: Performance, Name: AUCGap, Scope: OfPrediction, Unit: "ratio", Threshold: Always,
			Help: "Estimated ROC AUC of the window's predictions less the AUC over the labels joined in it (prediction.max_quality_gap; breached only when the shortfall is significant for the labels)."},

		{Kind: Shadow, Name: Pairs, Scope: OfModel, Unit: "count",
			Help: "Requests both shadow versions scored, paired in the window (counted in the window of the prediction that completed the pair)."},
		{Kind: Shadow, Name: DisagreementRatio, Scope: OfModel, Unit: "ratio", Threshold: ByContract,
			Help: "Share of pairs whose decisions differ: classes, or probabilities on either side of 0.5 and scores of 0 (shadow.max_disagreement)."},
		{Kind: Shadow, Name: AbsDifferenceMean, Scope: OfModel, Unit: "value",
			Help: "Mean absolute difference between the candidate's and the reference's prediction of the same request (scores, probabilities, regression)."},
		{Kind: Shadow, Name: AbsDifferenceP50, Scope: OfModel, Unit: "value",
			Help: "Median absolute difference between the two versions' predictions of a request (within 0.5% of its magnitude)."},
		{Kind: Shadow, Name: AbsDifferenceP95, Scope: OfModel, Unit: "value",
			Help: "95th percentile of the absolute difference between the two versions' predictions of a request (within 0.5% of its magnitude)."},
		{Kind: Shadow, Name: UnpairedRatio, Scope: OfModel, Unit: "ratio", Threshold: Always,
			Help: "Share of requests only one shadow version scored within shadow.max_delay, among those given up or paired in the window (shadow.max_unpaired_ratio)."},
		{Kind: Shadow, Name: ReferenceOnly, Scope: OfModel, Unit: "count",
			Help: "Requests only the reference version scored, given up in the window."},
		{Kind: Shadow, Name: CandidateOnly, Scope: OfModel, Unit: "count",
			Help: "Requests only the candidate version scored, given up in the window."},
		{Kind: Shadow, Name: Evicted, Scope: OfModel, Unit: "count",
			Help: "Predictions evicted unpaired because shadow.max_pending were already waiting: the pairing's memory bound is too small for the traffic."},

		{Kind: Availability, Name: Events, Scope: OfVersion, Unit: "count",
			Help: "Events of the version in the window (the version mix)."},
		{Kind: Availability, Name: EventShare, Scope: OfVersion, Unit: "ratio",
			Help: "Share of the model's events in the window that the version sent."},
		{Kind: Availability, Name: SecondsSinceEvent, Scope: OfVersion, Unit: "seconds", Threshold: ByContract,
			Help: "Event-time seconds from the version's last event to the window's end, while its model sends (versions.max_silence, for named versions)."},
		{Kind: Availability, Name: NewVersion, Scope: OfVersion, Unit: "count", Threshold: Always,
			Help: "1 in the window in which a version is first seen sending since Sentinel started, and the next (an info finding that outlasts an alert's for of one window)."},

		{Kind: Version, Name: LatencyP50, Scope: OfVersion, Unit: "milliseconds",
			Help: "Median serving latency of the version's events in the window (models with more than one version in it)."},
		{Kind: Version, Name: LatencyP95, Scope: OfVersion, Unit: "milliseconds",
			Help: "95th percentile of the version's serving latency in the window."},
		{Kind: Version, Name: LatencyP99, Scope: OfVersion, Unit: "milliseconds",
			Help: "99th percentile of the version's serving latency in the window."},
		{Kind: Version, Name: ErrorRatio, Scope: OfVersion, Unit: "ratio",
			Help: "Share of the version's events whose prediction is missing, null or of the wrong type."},
		{Kind: Version, Name: NaNRatio, Scope: OfVersion, Unit: "ratio",
			Help: "Share of the version's predictions that are NaN."},
		{Kind: Version, Name: InfRatio, Scope: OfVersion, Unit: "ratio",
			Help: "Share of the version's predictions that are infinite."},
		{Kind: Version, Name: OutOfRangeRatio, Scope: OfVersion, Unit: "ratio",
			Help: "Share of the version's finite probabilities outside [0, 1]."},
		{Kind: Version, Name: Mean, Scope: OfVersion, Unit: "value",
			Help: "Mean of the version's finite numeric predictions in the window."},
		{Kind: Version, Name: PredictionP50, Scope: OfVersion, Unit: "value",
			Help: "Median of the version's numeric predictions in the window."},
		{Kind: Version, Name: PredictionP95, Scope: OfVersion, Unit: "value",
			Help: "95th percentile of the version's numeric predictions in the window."},
		{Kind: Version, Name: Labelled, Scope: OfVersion, Unit: "count",
			Help: "The version's predictions joined with their labels in the window."},
		{Kind: Version, Name: Accuracy, Scope: OfVersion, Unit: "ratio",
			Help: "Accuracy of the version's predictions over the labels joined in the window."},
		{Kind: Version, Name: AUC, Scope: OfVersion, Unit: "ratio",
			Help: "ROC AUC of the version's probabilities or scores over the labels joined in the window."},
		{Kind: Version, Name: LogLoss, Scope: OfVersion, Unit: "statistic",
			Help: "Log loss of the version's probabilities over the labels joined in the window."},
		{Kind: Version, Name: MAE, Scope: OfVersion, Unit: "value",
			Help: "Mean absolute error of the version's predictions over the labels joined in the window."},
		{Kind: Version, Name: RMSE, Scope: OfVersion, Unit: "value",
			Help: "Root mean squared error of the version's predictions over the labels joined in the window."},

		{Kind: Canary, Name: PredictionDrift, Scope: OfVersion, Unit: "statistic", Threshold: Always,
			Help: "The model's prediction drift statistic (PSI, or Wasserstein in sd for scores and regressions) between the candidate's and the reference version's predictions in the window (canary.max_prediction_drift, raised to what samples of their sizes reach by chance)."},
		{Kind: Canary, Name: ErrorRatioIncrease, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The candidate's share of missing, null or wrong-type predictions less the reference's (canary.max_error_rate_increase; breached only when significant)."},
		{Kind: Canary, Name: NaNRatioIncrease, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The candidate's share of NaN or infinite predictions less the reference's (canary.max_nan_rate_increase; breached only when significant)."},
		{Kind: Canary, Name: LatencyP95Ratio, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The candidate's p95 latency over the reference's (canary.max_latency_ratio; breached only when the quantiles' 99.9% confidence bounds are that far apart too)."},
		{Kind: Canary, Name: LatencyP99Ratio, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The candidate's p99 latency over the reference's (canary.max_latency_ratio; breached only when the quantiles' 99.9% confidence bounds are that far apart too)."},
		{Kind: Canary, Name: AccuracyLoss, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The reference version's accuracy less the candidate's, over the labels joined in the window (canary.max_quality_loss; breached only when significant)."},
		{Kind: Canary, Name: AUCLoss, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "The reference version's ROC AUC less the candidate's, over the labels joined in the window (canary.max_quality_loss; breached only when significant)."},
		{Kind: Canary, Name: MAEIncrease, Scope: OfVersion, Unit: "ratio", Threshold: Always,
			Help: "Relative increase of the candidate's mean absolute error over the reference's (canary.max_quality_loss; breached only when significant)."},
		{Kind: Canary, Name: SplitPValue, Scope: OfVersion, Unit: "p-value", Breach: Below, Threshold: Always,
			Help: "Smallest p-value, Bonferroni-adjusted over the features, of the candidate's and the reference's feature distributions being alike (KS, χ²): below canary.split_alpha the traffic split is biased and the canary is not compared on like inputs."},

		{Kind: Staleness, Name: SecondsSinceEvent, Scope: OfModel, Unit: "seconds", Threshold: ByConfig,
			Help: "Wall-clock seconds since the model's last event (staleness.max_silence)."},
		{Kind: Staleness, Name: ModelAgeSeconds, Scope: OfModel, Unit: "seconds", Threshold: ByConfig,
			Help: "Seconds since the contract's trained_at (staleness.max_model_age)."},

		{Kind: Anomaly, Name: Score, Scope: OfModel, Unit: "statistic", Threshold: Always,
			Help: "Anomaly score of the window's metrics: -log10 of the chance of so unusual a window when all is well, capped at 300."},
	}
	for _, m := range DriftMethods() {
		breach := Above
		if m.Below() {
			breach = Below
		}
		for _, a := range []Against{VsPrevious, VsReference} {
			what := "the previous window"
			if a == VsReference {
				what = "the previous reference period"
			}
			for _, scope := range []Scope{OfFeature, OfPrediction} {
				var types []config.FeatureType
				if scope == OfFeature {
					types = driftTypes(m)
				}
				ms = append(ms, Metric{Kind: Drift, Name: DriftMetric(m, a), Scope: scope, Types: types, Method: m,
					Unit: driftUnit(m), Breach: breach, Threshold: Always,
					Help: "The contract's drift statistic (" + string(m) + ") of the window against " + what + "."})
			}
		}
	}
	return ms
}

func driftTypes(m config.DriftMethod) []config.FeatureType {
	switch m {
	case config.KSPValue, config.WassersteinNormed:
		return numericOnly()
	case config.LInfinity, config.Chi2PValue:
		return categoricalish()
	}
	return nil
}

func driftUnit(m config.DriftMethod) string {
	switch m {
	case config.KSPValue, config.Chi2PValue:
		return "p-value"
	case config.JSDivergence:
		return "bits"
	case config.LInfinity:
		return "ratio"
	}
	return "statistic"
}
