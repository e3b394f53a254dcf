package dashboards

// Sentinel's dashboards. `go test -run TestGenerated -update` writes them to
// dashboards/*.json and to the chart's copies; the other tests read the files.

// generated lists the dashboards by file name.
func generated() map[string]dashboard {
	return map[string]dashboard{
		"sentinel-fleet.json":    fleet(),
		"sentinel-model.json":    modelDashboard(),
		"sentinel-pipeline.json": pipelineHealth(),
	}
}

// sourceVariables choose the data sources and the database the SQL reads.
func sourceVariables() []variable {
	return []variable{
		dataSourceVariable(prometheusVar, "Prometheus", prometheusType, "The Prometheus that scrapes Sentinel's /metrics."),
		dataSourceVariable(clickhouseVar, "ClickHouse", clickhouseType,
			"The ClickHouse that Sentinel writes its results to, through Grafana's ClickHouse plugin (grafana-clickhouse-datasource)."),
		textVariable("database", "Database", "sentinel", "The ClickHouse database of Sentinel's tables: clickhouse.database in sentinel.yaml."),
	}
}

// againstThreshold plots a check's values and its threshold, one series each
// per metric ("psi value", "psi threshold"), from the windows the filter picks.
func againstThreshold(filter string) string {
	return `
		SELECT window_start AS time, concat(metric, ' ', what) AS series, v
		FROM ${database}.check_results FINAL
		ARRAY JOIN ['value', 'threshold'] AS what, [value, threshold] AS v
		WHERE ` + filter + ` AND $__timeFilter(window_start)
		ORDER BY time`
}

// versionValues plots check values about one version each, one series per
// version.
func versionValues(filter string) string {
	return `
		SELECT window_start AS time, model_version AS version, value
		FROM ${database}.check_results FINAL
		WHERE ` + filter + ` AND $__timeFilter(window_start)
		ORDER BY time`
}

// checkValues plots check values without thresholds, one series per metric.
func checkValues(filter string) string {
	return `
		SELECT window_start AS time, metric, value
		FROM ${database}.check_results FINAL
		WHERE ` + filter + ` AND $__timeFilter(window_start)
		ORDER BY time`
}

// distribution plots a numeric feature's range and moments per window from
// its merged profile (partition -1); the quantiles are only in the stored
// sketch.
func distribution(feature string) string {
	return `
		SELECT window_start AS time, min_value AS min, mean - stddev AS "mean - stddev", mean,
		  mean + stddev AS "mean + stddev", max_value AS max
		FROM ${database}.window_profiles FINAL
		WHERE model = '${model}' AND feature = '` + feature + `' AND kafka_partition = -1 AND finite_count > 0
		  AND $__timeFilter(window_start)
		ORDER BY time`
}

func fleet() dashboard {
	vars := append(sourceVariables(),
		promVariable("model", "Model", "label_values(sentinel_events_total, model)", "The models to show.", true))
	rows := []row{
		{"Models", "The fleet now: what is watched, what is breached.", []panel{
			stat("Models", "Models the daemon is configured to watch.", "short", nil,
				prom(`count(count by (model) (sentinel_events_total{model=~"$model"}))`, "")),
			stat("Events per second", "Events accepted into windows, all selected models together.", "cps", nil,
				prom(`sum(rate(sentinel_events_total{model=~"$model"}[$__rate_interval]))`, "")),
			stat("Breached checks", "Checks over their threshold in each model's last closed window (staleness: its last clock tick).", "short", ptr(1.0),
				prom(`sum(sentinel_check_breached{model=~"$model"}) or vector(0)`, "")),
			stat("Silent models", "Models whose staleness check is breached: no event for longer than staleness.max_silence.", "short", ptr(1.0),
				prom(`count(sentinel_check_breached{model=~"$model", kind="staleness", metric="seconds_since_last_event"} == 1) or vector(0)`, "")),
			stat("Anomalous models", "Models whose last window the anomaly detector flagged.", "short", ptr(1.0),
				prom(`count(sentinel_check_breached{model=~"$model", kind="anomaly", metric="score"} == 1) or vector(0)`, "")),
			stat("Firing Sentinel alerts", "Alerts whose name starts with Sentinel that Prometheus is firing now.", "short", ptr(1.0),
				prom(`count(ALERTS{alertname=~"Sentinel.*", alertstate="firing"}) or vector(0)`, "")),
			table("Models now", "One row per model: events accepted per second over the last 5 minutes, seconds since its last event, "+
				"checks breached in its last window, its last anomaly score and the windows it closed in the last hour. "+
				"A model's name opens its dashboard.", 24, 8,
				promTable(`sum by (model) (rate(sentinel_events_total{model=~"$model"}[5m]))`),
				promTable(`time() - max by (model) (sentinel_last_event_timestamp_seconds{model=~"$model"} > 0)`),
				promTable(`sum by (model) (sentinel_check_breached{model=~"$model"})`),
				promTable(`max by (model) (sentinel_check_value{model=~"$model", kind="anomaly", metric="score"})`),
				promTable(`sum by (model) (increase(sentinel_windows_closed_total{model=~"$model"}[1h]))`),
			).merged().organized([]string{"Time"}, map[string]string{
				"Value #A": "events/s", "Value #B": "seconds since last event", "Value #C": "breached checks",
				"Value #D": "anomaly score", "Value #E": "windows in the last hour",
			}).linkToModel("model"),
		}},
		{"Freshness", "How recent each model's traffic is, and how old its trained model.", []panel{
			timeseries("Seconds since the last event", "Wall-clock seconds since each model's last accepted event: a model "+
				"whose traffic stopped climbs steadily. Models without an event since the daemon started are left out.", "s", 8, 8,
				prom(`time() - max by (model) (sentinel_last_event_timestamp_seconds{model=~"$model"} > 0)`, "{{model}}")),
			timeseries("Silence against max_silence", "The staleness check as stored in ClickHouse: seconds without an event "+
				"at each clock tick, and its threshold, staleness.max_silence.", "s", 8, 8,
				sqlSeries(`
					SELECT window_start AS time, concat(model, ' ', what) AS series, v
					FROM ${database}.check_results FINAL
					ARRAY JOIN ['seconds', 'threshold'] AS what, [value, threshold] AS v
					WHERE model IN (${model:singlequote}) AND kind = 'staleness' AND metric = 'seconds_since_last_event'
					  AND $__timeFilter(window_start)
					ORDER BY time`)).thresholdsDashed(),
			timeseries("Model version age", "Time since each model's contract trained_at: the age of the model in production. "+
				"staleness.max_model_age, when set, is its threshold.", "s", 8, 8,
				sqlSeries(`
					SELECT window_start AS time, model, value AS age
					FROM ${database}.check_results FINAL
					WHERE model IN (${model:singlequote}) AND kind = 'staleness' AND metric = 'model_age_seconds'
					  AND $__timeFilter(window_start)
					ORDER BY time`)),
		}},
		{"Windows", "Windows checked and written, and the traffic in them.", []panel{
			timeseries("Windows closed per minute", "Windows checked and written per minute, by model: one a minute for "+
				"one-minute windows; zero while a model's watermark does not move.", "short", 8, 8,
				prom(`sum by (model) (rate(sentinel_windows_closed_total{model=~"$model"}[$__rate_interval])) * 60`, "{{model}}")),
			timeseries("Late events per second", "Events that arrived after their window had closed (later than "+
				"windows.allowed_lateness); counted, not checked.", "cps", 8, 8,
				prom(`sum by (model) (rate(sentinel_events_late_total{model=~"$model"}[$__rate_interval]))`, "{{model}}")),
			timeseries("Events per window", "Events each closed window held, by model, from ClickHouse.", "short", 8, 8,
				sqlSeries(`
					SELECT window_start AS time, model, value AS events
					FROM ${database}.check_results FINAL
					WHERE model IN (${model:singlequote}) AND kind = 'quality' AND metric = 'events' AND feature = ''
					  AND $__timeFilter(window_start)
					ORDER BY time`)).points(),
		}},
		{"Alerts", "Sentinel's alerts in Prometheus and the checks behind them.", []panel{
			timeseries("Firing Sentinel alerts by name", "Alerts whose name starts with Sentinel, firing, by alert name.", "short", 12, 8,
				prom(`count by (alertname) (ALERTS{alertname=~"Sentinel.*", alertstate="firing"})`, "{{alertname}}")),
			barGauge("Breached checks by model and kind", "Checks over their threshold in each model's last window, by kind.", "short", 12, 8,
				prom(`sum by (model, kind) (sentinel_check_breached{model=~"$model"})`, "{{model}} {{kind}}")),
			table("Sentinel alerts firing or pending", "Every Sentinel alert Prometheus holds now, with its labels.", 24, 8,
				promTable(`ALERTS{alertname=~"Sentinel.*"}`)).organized([]string{"Time", "Value", "__name__"}, nil),
		}},
		{"Findings", "What the checks found: breached checks and anomalies, window by window.", []panel{
			timeseries("Breached checks by kind", "Checks over their threshold in the last window of the selected models, by kind, as Prometheus scraped them.", "short", 12, 8,
				prom(`sum by (kind) (sentinel_check_breached{model=~"$model"})`, "{{kind}}")),
			timeseries("Findings per window by kind", "Breached checks of each window, by kind, from ClickHouse: the anomaly "+
				"kind counts windows the detector flagged.", "short", 12, 8,
				sqlSeries(`
					SELECT window_start AS time, kind, count() AS findings
					FROM ${database}.check_results FINAL
					WHERE model IN (${model:singlequote}) AND breached = 1 AND $__timeFilter(window_start)
					GROUP BY time, kind
					ORDER BY time`)).bars(),
			table("Latest findings", "The most recent breached checks of the selected models, newest first. A model's name opens its dashboard.", 24, 10,
				sqlTable(`
					SELECT window_start, model, kind, feature, metric, value, threshold
					FROM ${database}.check_results FINAL
					WHERE model IN (${model:singlequote}) AND breached = 1 AND $__timeFilter(window_start)
					ORDER BY window_start DESC, model, kind, feature, metric
					LIMIT 200`)).linkToModel("model"),
		}},
	}
	return newDashboard("sentinel-fleet", "Sentinel / Fleet overview",
		"Every model Sentinel watches: freshness, windows, alerts and findings.", vars, rows)
}

func modelDashboard() dashboard {
	vars := append(sourceVariables(),
		promVariable("model", "Model", "label_values(sentinel_events_total, model)", "The model to show.", false),
		sqlVariable("feature", "Feature", `
			SELECT DISTINCT feature
			FROM ${database}.check_results
			WHERE model = '${model}' AND kind = 'skew' AND feature != '' AND $__timeFilter(window_start)
			ORDER BY feature`, "The contract features to show, one panel each."),
		sqlVariable("numeric_feature", "Numeric feature", `
			SELECT DISTINCT feature
			FROM ${database}.window_profiles
			WHERE model = '${model}' AND feature IN (${feature:singlequote}) AND finite_count > 0
			  AND $__timeFilter(window_start)
			ORDER BY feature`, "The selected features that have numeric values, whose distribution is plotted."),
	)
	vars[len(vars)-1].Hide = 2
	rows := []row{
		{"Overview", "The model now, from Prometheus.", []panel{
			stat("Events per second", "Events accepted into the model's windows.", "cps", nil,
				prom(`sum(rate(sentinel_events_total{model="$model"}[$__rate_interval]))`, "")),
			stat("Seconds since the last event", "Wall-clock seconds since the model's last accepted event.", "s", nil,
				prom(`time() - max(sentinel_last_event_timestamp_seconds{model="$model"} > 0)`, "")),
			stat("Breached checks", "Checks over their threshold in the model's last closed window (staleness: its last clock tick).", "short", ptr(1.0),
				prom(`sum(sentinel_check_breached{model="$model"}) or vector(0)`, "")),
			stat("Anomaly score", "The anomaly score of the model's last window: -log10 of the chance of so unusual a window when all is well.", "short", nil,
				prom(`max(sentinel_check_value{model="$model", kind="anomaly", metric="score"})`, "")),
			stat("Firing alerts", "Sentinel alerts about this model that Prometheus is firing now.", "short", ptr(1.0),
				prom(`count(ALERTS{alertname=~"Sentinel.*", alertstate="firing", model="$model"}) or vector(0)`, "")),
			stat("Windows in the last hour", "Windows of the model checked and written in the last hour.", "short", nil,
				prom(`sum(increase(sentinel_windows_closed_total{model="$model"}[1h]))`, "")),
			table("Checks breached in the last window", "Every check of the model over its threshold in its last closed window, with its value.", 24, 7,
				promTable(`sentinel_check_value{model="$model"} and on (model, kind, feature, metric) (sentinel_check_breached{model="$model"} == 1)`),
			).organized([]string{"Time", "__name__", "model"}, map[string]string{"Value": "value"}),
		}},
		{"Skew against the training baseline", "Each feature's distribution statistic against the baseline, with the threshold the contract sets.", []panel{
			timeseries("Skew of $feature against its threshold", "The feature's drift method computed against the training baseline, "+
				"per window, and its threshold. p-value methods (ks_p_value, chi2_p_value) breach below the threshold, the others above. "+
				"Missing for windows with fewer than drift.min_samples values.", "short", 8, 8,
				sqlSeries(againstThreshold(`model = '${model}' AND kind = 'skew' AND feature = '${feature}' `+
					`AND metric NOT IN ('missing_ratio', 'type_mismatch') AND NOT isNaN(threshold)`)),
			).logScale().points().thresholdsDashed().repeated("feature"),
		}},
		{"Drift against the past", "Each feature against the previous window and the previous reference period (drift.reference_period).", []panel{
			timeseries("Drift of $feature against its threshold", "The contract's drift statistic of the feature against the previous "+
				"window (_vs_previous) and the previous reference period (_vs_reference), and its threshold. p-values breach below it.", "short", 8, 8,
				sqlSeries(againstThreshold(`model = '${model}' AND kind = 'drift' AND feature = '${feature}'`)),
			).logScale().points().thresholdsDashed().repeated("feature"),
		}},
		{"Quality", "The data the model was served: volume, latency, and the share of bad values per feature.", []panel{
			timeseries("Events per window", "Events each closed window held.", "short", 8, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'quality' AND metric = 'events' AND feature = ''`))).points(),
			timeseries("Serving latency", "Serving latency the events reported: median, 95th and 99th percentile per window.", "ms", 8, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'quality' AND metric IN ('latency_ms_p50', 'latency_ms_p95', 'latency_ms_p99')`))).points(),
			timeseries("Non-finite feature values", "Share of numeric feature values that are NaN or infinite, per window.", "percentunit", 8, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'numerical' AND metric = 'nonfinite_feature_ratio'`))).points(),
			timeseries("Data quality of $feature", "Share of the window's events whose value of the feature is null, NaN, infinite, "+
				"of the wrong type, out of the contract's range or an unknown category (quality), absent or of another type "+
				"than in training (skew: missing_ratio, type_mismatch).", "percentunit", 8, 8,
				sqlSeries(checkValues(`model = '${model}' AND feature = '${feature}' AND kind IN ('quality', 'skew') `+
					`AND metric IN ('null_ratio', 'nan_ratio', 'inf_ratio', 'wrong_type_ratio', 'out_of_range_ratio', `+
					`'unknown_category_ratio', 'missing_ratio', 'type_mismatch')`)),
			).points().repeated("feature"),
		}},
		{"Distribution", "How each feature's values are spread, window by window.", []panel{
			timeseries("Distinct values", "Estimated distinct values of each selected feature per window: a categorical "+
				"feature gaining categories or a numeric one collapsing to a constant shows here.", "short", 24, 8,
				sqlSeries(`
					SELECT window_start AS time, feature, distinct_estimate
					FROM ${database}.window_profiles FINAL
					WHERE model = '${model}' AND feature IN (${feature:singlequote}) AND kafka_partition = -1
					  AND $__timeFilter(window_start)
					ORDER BY time`)).points(),
			timeseries("Distribution of $numeric_feature", "Minimum, mean minus and plus one standard deviation, mean and "+
				"maximum of the feature's finite values per window. Quantiles are kept only in the stored sketch, not as columns.", "short", 8, 8,
				sqlSeries(distribution("${numeric_feature}")),
			).points().repeated("numeric_feature"),
		}},
		{"Prediction", "What the model answered: drift, distribution and numerical stability of its predictions.", []panel{
			timeseries("Prediction drift against its threshold", "The drift statistic of the predictions against the previous window and "+
				"reference period, and its threshold.", "short", 12, 8,
				sqlSeries(againstThreshold(`model = '${model}' AND kind = 'drift' AND feature = 'prediction'`))).logScale().points().thresholdsDashed(),
			timeseries("Prediction drift now", "The same statistics as Prometheus scrapes them, from the last closed window.", "short", 12, 8,
				prom(`sentinel_check_value{model="$model", kind="drift", feature="prediction"}`, "{{metric}}")).logScale(),
			timeseries("Prediction distribution", "Minimum, mean minus and plus one standard deviation, mean and maximum of the "+
				"predictions per window.", "short", 12, 8,
				sqlSeries(distribution("prediction"))).points(),
			timeseries("Prediction stability", "Share of predictions that are missing, NaN, infinite or (probabilities) outside [0, 1].", "percentunit", 12, 8,
				sqlSeries(checkValues(`model = '${model}' AND feature = 'prediction' AND `+
					`((kind = 'numerical' AND metric IN ('nan_ratio', 'inf_ratio', 'out_of_range_ratio')) OR (kind = 'quality' AND metric = 'missing_ratio'))`))).points(),
		}},
		{"Label-based quality", "Model quality over the delayed labels joined to the window's predictions by request id.", []panel{
			timeseries("Accuracy and AUC", "Accuracy and area under the ROC curve over the labels joined in each window (probability and class models).", "percentunit", 12, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'performance' AND metric IN ('accuracy', 'auc')`))).points(),
			timeseries("Log loss and errors", "Log loss (probabilities), mean absolute error, root mean squared error and mean error (regressions) per window.", "short", 12, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'performance' AND metric IN ('log_loss', 'mae', 'rmse', 'mean_error')`))).points(),
			timeseries("Positive labels against mean prediction", "Share of positive labels and mean prediction of the labelled "+
				"requests: apart, the model is miscalibrated.", "percentunit", 12, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'performance' AND metric IN ('label_positive_rate', 'mean_prediction')`))).points(),
			timeseries("Labelled predictions", "Predictions joined with their label per window, and labels that could not be read.", "short", 12, 8,
				sqlSeries(checkValues(`model = '${model}' AND kind = 'performance' AND metric IN ('labelled', 'bad_labels')`))).points(),
			timeseries("Estimated against realised quality", "For a model whose baseline learnt a calibration: the accuracy and AUC its "+
				"calibrated probabilities estimate for the labelled predictions, minus the realised values (accuracy_gap, auc_gap), and "+
				"the threshold prediction.max_quality_gap. Above it in every window for ten, SentinelConceptDrift fires.", "percentunit", 24, 8,
				prom(`sentinel_check_value{model="$model", kind="performance", metric=~"accuracy_gap|auc_gap"}`, "{{metric}}"),
				prom(`max(sentinel_check_threshold{model="$model", kind="performance", metric=~"accuracy_gap|auc_gap"})`, "threshold")),
		}},
		{"Versions", "The model's versions: their mix, each one's own latency and quality, and a canary's verdicts against its " +
			"reference (contracts with versions, shadow or canary).", []panel{
			timeseries("Version mix", "Share of the model's events each version sent per window.", "percentunit", 12, 8,
				sqlSeries(versionValues(`model = '${model}' AND kind = 'availability' AND metric = 'event_share'`))).points(),
			timeseries("Latency p95 by version", "95th percentile of each version's serving latency, in windows with more than one version.", "ms", 12, 8,
				sqlSeries(versionValues(`model = '${model}' AND kind = 'version' AND metric = 'latency_ms_p95'`))).points(),
			timeseries("Canary against its thresholds", "The candidate's verdicts against the reference version from the last closed "+
				"window: prediction drift, error and NaN rate increases, latency ratios, quality lost, and the split's p-value. "+
				"Breached in three windows running, SentinelCanaryWorse or SentinelCanarySplitBiased fires.", "short", 12, 8,
				prom(`sentinel_check_value{model="$model", kind="canary"}`, "{{feature}} {{metric}}"),
				prom(`sentinel_check_threshold{model="$model", kind="canary"}`, "{{feature}} {{metric}} threshold")).logScale(),
			timeseries("Seconds since each version's last event", "Event-time silence of each version while its model sends; "+
				"past versions.max_silence, SentinelVersionSilent fires.", "s", 12, 8,
				prom(`sentinel_check_value{model="$model", kind="availability", metric="seconds_since_last_event"}`, "{{feature}}"),
				prom(`max(sentinel_check_threshold{model="$model", kind="availability", metric="seconds_since_last_event"})`, "threshold")),
		}},
		{"Anomaly", "The anomaly detector over the window metrics, and the metrics it blames.", []panel{
			timeseries("Anomaly score against its threshold", "The window's anomaly score (-log10 of the chance of so unusual a window "+
				"when all is well, capped at 300) and the threshold the false-alarm rate sets.", "short", 12, 8,
				sqlSeries(againstThreshold(`model = '${model}' AND kind = 'anomaly' AND metric = 'score'`))).logScale().points().thresholdsDashed(),
			table("Metrics blamed most often", "The metrics the detector named as causes of flagged windows, by how often, with their mean share of the score.", 12, 8,
				sqlTable(`
					SELECT metric, count() AS windows, avg(share) AS mean_share
					FROM ${database}.anomalies FINAL
					ARRAY JOIN cause_metrics AS metric, cause_contribution AS share
					WHERE model = '${model}' AND is_anomaly = 1 AND $__timeFilter(window_start)
					GROUP BY metric
					ORDER BY windows DESC, metric
					LIMIT 20`)),
			table("Top causes of anomalous windows", "Each flagged window's score and the metrics to blame, in rank order, with "+
				"the value seen, the value expected and the share of the score.", 24, 10,
				sqlTable(`
					SELECT window_start, score, rank, metric, actual, expected, share
					FROM ${database}.anomalies FINAL
					ARRAY JOIN arrayEnumerate(cause_metrics) AS rank, cause_metrics AS metric, cause_actual AS actual,
					  cause_expected AS expected, cause_contribution AS share
					WHERE model = '${model}' AND is_anomaly = 1 AND $__timeFilter(window_start)
					ORDER BY window_start DESC, rank
					LIMIT 200`)),
		}},
	}
	anomalyWindows := sqlTable(`
			SELECT window_start AS time, window_end AS timeEnd,
			  concat('anomaly score ', toString(round(score, 1)), ': ', arrayStringConcat(cause_metrics, ', ')) AS text
			FROM ${database}.anomalies FINAL
			WHERE model = '${model}' AND is_anomaly = 1 AND $__timeFilter(window_start)
			ORDER BY time`)
	anomalyWindows.RefID = "Anno"
	anomalies := annotation{Name: "Anomalies", Datasource: clickhouseRef, Enable: true, IconColor: "red", Target: anomalyWindows}
	return newDashboard("sentinel-model", "Sentinel / Model",
		"One model: skew, drift, quality and distribution per feature, its predictions, label-based quality and anomalies.",
		vars, rows, anomalies)
}

func pipelineHealth() dashboard {
	vars := append(sourceVariables(),
		promVariable("job", "Job", "label_values(sentinel_build_info, job)", "The Prometheus jobs that scrape Sentinel.", true),
		promVariable("instance", "Instance", `label_values(sentinel_build_info{job=~"$job"}, instance)`, "The Sentinel instances to show.", true),
	)
	const on = `job=~"$job", instance=~"$instance"`
	rows := []row{
		{"Ingest", "Reading Kafka: throughput, lag and the consumer group.", []panel{
			timeseries("Messages fetched per second", "Messages fetched from Kafka, by topic.", "cps", 8, 8,
				prom(`sum by (topic) (rate(sentinel_ingest_messages_total{`+on+`}[$__rate_interval]))`, "{{topic}}")),
			timeseries("Bytes fetched per second", "Key and value bytes fetched from Kafka, by topic.", "Bps", 8, 8,
				prom(`sum by (topic) (rate(sentinel_ingest_bytes_total{`+on+`}[$__rate_interval]))`, "{{topic}}")),
			timeseries("Consumer lag", "Messages behind the high-water mark over the partitions each instance holds, by topic.", "short", 8, 8,
				prom(`sum by (topic) (sentinel_ingest_lag{`+on+`})`, "{{topic}}")),
			timeseries("Events accepted per second", "Events admitted into windows, by model.", "cps", 8, 8,
				prom(`sum by (model) (rate(sentinel_events_total{`+on+`}[$__rate_interval]))`, "{{model}}")),
			timeseries("Offset commits per second", "Offset commits, each behind windows already written to ClickHouse; none "+
				"for a while means windows are not closing or not being written.", "cps", 8, 8,
				prom(`sum by (instance) (rate(sentinel_ingest_commits_total{`+on+`}[$__rate_interval]))`, "{{instance}}")),
			timeseries("Consumer group rebalances", "Consumer group generations each instance joined: a deploy or a crash shows as one.", "short", 8, 8,
				prom(`sum by (instance) (increase(sentinel_ingest_rebalances_total{`+on+`}[$__rate_interval]))`, "{{instance}}")).bars(),
		}},
		{"Dead letters and late events", "What was not checked: messages rejected to the dead-letter topic and events too late for their window.", []panel{
			timeseries("Dead letters by reason", "Messages written to the dead-letter topic per second, by reason.", "cps", 8, 8,
				prom(`sum by (reason) (rate(sentinel_dead_letters_total{`+on+`}[$__rate_interval]))`, "{{reason}}")),
			timeseries("Rejected messages by model and reason", "Messages rejected per second, by model (unknown when the "+
				"message named none Sentinel knows) and reason.", "cps", 8, 8,
				prom(`sum by (model, reason) (rate(sentinel_events_rejected_total{`+on+`}[$__rate_interval]))`, "{{model}} {{reason}}")),
			timeseries("Late and replayed events", "Events later than their window's allowed lateness, and events read again "+
				"after a restart whose window was already written (skipped), per second.", "cps", 8, 8,
				prom(`sum by (model) (rate(sentinel_events_late_total{`+on+`}[$__rate_interval]))`, "{{model}} late"),
				prom(`sum by (model) (rate(sentinel_events_replayed_total{`+on+`}[$__rate_interval]))`, "{{model}} replayed")),
			timeseries("Rejected messages per window by reason", "Rejected messages stored in ClickHouse, per window of arrival and reason, all models.", "short", 24, 8,
				sqlSeries(`
					SELECT window_start AS time, reason, sum(message_count) AS messages
					FROM ${database}.rejected_counts FINAL
					WHERE $__timeFilter(window_start)
					GROUP BY time, reason
					ORDER BY time`)).bars(),
		}},
		{"Windows", "Closing windows: a window closes once every partition's events have passed its end plus the allowed lateness.", []panel{
			timeseries("Windows closed per minute", "Windows checked and written per minute, by model.", "short", 8, 8,
				prom(`sum by (model) (rate(sentinel_windows_closed_total{`+on+`}[$__rate_interval])) * 60`, "{{model}}")),
			timeseries("Seconds since the last event", "Wall-clock seconds since each model's last event: open windows wait for "+
				"later events to move the watermark, so this bounds how long the last window's close is delayed.", "s", 8, 8,
				prom(`time() - max by (model) (sentinel_last_event_timestamp_seconds{`+on+`} > 0)`, "{{model}}")),
			timeseries("Checks published per model", "Checks with a threshold that each model's last window published: a drop "+
				"means statistics were skipped, e.g. for windows with too few samples.", "short", 8, 8,
				prom(`count by (model) (sentinel_check_value{`+on+`})`, "{{model}}")),
		}},
		{"ClickHouse writes", "Making results durable: latency, throughput and retries of the batched writer.", []panel{
			timeseries("Write latency", "Time to make a batch durable, retries included: median, 95th and 99th percentile.", "s", 12, 8,
				prom(`histogram_quantile(0.5, sum by (le) (rate(sentinel_store_write_duration_seconds_bucket{`+on+`}[$__rate_interval])))`, "p50"),
				prom(`histogram_quantile(0.95, sum by (le) (rate(sentinel_store_write_duration_seconds_bucket{`+on+`}[$__rate_interval])))`, "p95"),
				prom(`histogram_quantile(0.99, sum by (le) (rate(sentinel_store_write_duration_seconds_bucket{`+on+`}[$__rate_interval])))`, "p99")),
			timeseries("Batches written per second", "Batches made durable per second, by instance.", "cps", 12, 8,
				prom(`sum by (instance) (rate(sentinel_store_write_duration_seconds_count{`+on+`}[$__rate_interval]))`, "{{instance}}")),
			timeseries("Rows written per second", "Rows made durable per second, by table.", "cps", 12, 8,
				prom(`sum by (table) (rate(sentinel_store_rows_written_total{`+on+`}[$__rate_interval]))`, "{{table}}")),
			timeseries("Write retries", "INSERTs that failed with a transient error and were tried again, by table. While "+
				"ClickHouse is down Sentinel retries with backoff and stops consuming.", "short", 12, 8,
				prom(`sum by (table) (increase(sentinel_store_write_retries_total{`+on+`}[$__rate_interval]))`, "{{table}}")).bars(),
		}},
		{"Process", "The daemon's process: memory, goroutines, CPU, garbage collection, file descriptors and build.", []panel{
			timeseries("Memory", "Resident memory of the process, and the Go heap in use and its next collection target.", "bytes", 8, 8,
				prom(`sum by (instance) (process_resident_memory_bytes{`+on+`})`, "{{instance}} resident"),
				prom(`sum by (instance) (go_memstats_heap_inuse_bytes{`+on+`})`, "{{instance}} heap in use"),
				prom(`sum by (instance) (go_memstats_next_gc_bytes{`+on+`})`, "{{instance}} next GC")),
			timeseries("Goroutines", "Goroutines of each instance: steady in a healthy daemon.", "short", 8, 8,
				prom(`sum by (instance) (go_goroutines{`+on+`})`, "{{instance}}")),
			timeseries("CPU", "CPU seconds per second (cores in use) of each instance.", "short", 8, 8,
				prom(`sum by (instance) (rate(process_cpu_seconds_total{`+on+`}[$__rate_interval]))`, "{{instance}}")),
			timeseries("Garbage collection pauses", "Seconds per second the garbage collector stopped the world.", "s", 8, 8,
				prom(`sum by (instance) (rate(go_gc_duration_seconds_sum{`+on+`}[$__rate_interval]))`, "{{instance}}")),
			timeseries("File descriptors in use", "Open file descriptors as a share of the limit.", "percentunit", 8, 8,
				prom(`sum by (instance) (process_open_fds{`+on+`}) / sum by (instance) (process_max_fds{`+on+`})`, "{{instance}}")),
			table("Build", "The version, revision and Go version each instance runs.", 8, 8,
				promTable(`sentinel_build_info{`+on+`}`)).organized([]string{"Time", "Value", "__name__"}, nil),
		}},
	}
	return newDashboard("sentinel-pipeline", "Sentinel / Pipeline health",
		"The daemon itself: Kafka ingest, dead letters, window closing, ClickHouse writes and the process.", vars, rows)
}
