package alerts

import (
	"fmt"
	"strconv"
	"time"
)

// healthAlerts watch Sentinel itself: the process, its Kafka consumer, its
// dead letters, its ClickHouse writes and its windows. Only Prometheus
// evaluates them: a process cannot report its own death. Like checkAlerts it
// is one literal per alert, long because it is the whole list.
func healthAlerts() []Alert {
	return []Alert{
		{
			Name: "SentinelDown", Severity: Critical, For: 2 * time.Minute, Runbook: "sentineldown",
			Expr:    func(o Options) string { return fmt.Sprintf("up{job=~%s} == 0", strconv.Quote(o.Job)) },
			Summary: parts(txt("Sentinel "), Label("instance"), txt(" is down")),
			Description: parts(txt("Prometheus cannot scrape Sentinel at "), Label("instance"), txt(" (job "), Label("job"),
				txt(") and has not for "), For, txt(": no model it owns is being checked, and its check alerts resolve "+
					"for lack of data rather than because all is well.")),
		},
		{
			Name: "SentinelAbsent", Severity: Critical, For: 10 * time.Minute, Runbook: "sentinelabsent",
			Expr:    func(o Options) string { return fmt.Sprintf("absent(up{job=~%s})", strconv.Quote(o.Job)) },
			Summary: parts(txt("No Sentinel is scraped by Prometheus")),
			Description: parts(txt("Prometheus has had no Sentinel scrape target for "), For,
				txt(": Sentinel is not deployed, or its ServiceMonitor or scrape configuration no longer finds it "+
					"(the rules expect a job matching `sentinel alerts rules --job`). No model is being monitored.")),
		},
		{
			Name: "SentinelConsumerLagGrowing", Severity: Warning, For: 15 * time.Minute, Runbook: "sentinelconsumerlaggrowing",
			Expr: func(o Options) string {
				return fmt.Sprintf("sentinel_ingest_lag > 1000 and deriv(sentinel_ingest_lag[%s]) > 0", promDuration(scale(10*time.Minute, o.TimeScale)))
			},
			Summary: parts(txt("Sentinel "), Label("instance"), txt(" falls behind on topic "), Label("topic"),
				txt(" ("), ValueAs("count"), txt(" messages)")),
			Description: parts(txt("Sentinel "), Label("instance"), txt(" is "), ValueAs("count"), txt(" messages behind on topic "),
				Label("topic"), txt(", more than 1000, and the lag has kept growing for "), For,
				txt(": it reads slower than models produce, so its windows and alerts come later and later.")),
		},
		{
			Name: "SentinelDeadLetters", Severity: Warning, For: 10 * time.Minute, Runbook: "sentineldeadletters",
			Expr: func(o Options) string {
				r := promDuration(scale(5*time.Minute, o.TimeScale))
				rejected := fmt.Sprintf("sum by (model) (rate(sentinel_events_rejected_total[%s]))", r)
				accepted := fmt.Sprintf("sum by (model) (rate(sentinel_events_total[%s]))", r)
				// Messages of no known model have no accepted count: their
				// share is then all of them.
				return fmt.Sprintf("%s / (%s + (%s or %s * 0)) > 0.01", rejected, rejected, accepted, rejected)
			},
			Summary: parts(txt("Model "), Label("model"), txt(": "), ValueAs("ratio"), txt(" of messages go to the dead-letter topic")),
			Description: parts(txt("Sentinel rejects "), ValueAs("ratio"), txt(" of the messages of model "), Label("model"),
				txt(" (\"unknown\": messages naming no configured model) to the dead-letter topic, more than 1%, for "), For,
				txt(". They are not checked. The sentinel-reason header of each dead letter says why.")),
		},
		{
			Name: "SentinelLateEvents", Severity: Warning, For: 15 * time.Minute, Runbook: "sentinellateevents",
			Expr: func(o Options) string {
				r := promDuration(scale(5*time.Minute, o.TimeScale))
				late := fmt.Sprintf("sum by (model) (rate(sentinel_events_late_total[%s]))", r)
				return fmt.Sprintf("%s / (sum by (model) (rate(sentinel_events_total[%s])) + %s) > 0.01", late, r, late)
			},
			Summary: parts(txt("Model "), Label("model"), txt(": "), ValueAs("ratio"), txt(" of events arrive too late to be checked")),
			Description: parts(ValueAs("ratio"), txt(" of the events of model "), Label("model"),
				txt(" arrive too late to be checked (their window was written longer ago than windows.late_horizon), more than 1%, for "), For,
				txt(". They are counted but not checked, so the checks see a biased sample.")),
		},
		{
			Name: "SentinelClickHouseWritesRetrying", Severity: Warning, For: 10 * time.Minute, Runbook: "sentinelclickhousewritesretrying",
			Expr: func(o Options) string {
				return fmt.Sprintf("rate(sentinel_store_write_retries_total[%s]) > 0", promDuration(scale(5*time.Minute, o.TimeScale)))
			},
			Summary: parts(txt("Sentinel "), Label("instance"), txt(" retries writes to ClickHouse table "), Label("table")),
			Description: parts(txt("Sentinel "), Label("instance"), txt(" retries "), ValueAs("value"),
				txt(" INSERTs a second into ClickHouse table "), Label("table"), txt(", and has for "), For,
				txt(": ClickHouse is slow, overloaded or flapping. Windows are written late, and consumption "+
					"stalls while a write waits.")),
		},
		{
			Name: "SentinelClickHouseWritesFailing", Severity: Critical, For: 5 * time.Minute, Runbook: "sentinelclickhousewritesfailing",
			Expr: func(o Options) string {
				r := promDuration(scale(10*time.Minute, o.TimeScale))
				return fmt.Sprintf("sum without (table) (increase(sentinel_store_write_retries_total[%s])) > 0"+
					" and sum without (table) (increase(sentinel_store_rows_written_total[%s])) == 0", r, r)
			},
			Summary: parts(txt("Sentinel "), Label("instance"), txt(" cannot write to ClickHouse")),
			Description: parts(txt("Sentinel "), Label("instance"), txt(" retried "), ValueAs("count"),
				txt(" INSERTs and wrote no row to ClickHouse for "), For,
				txt(": no window is stored or checked, consumption has stopped, and Kafka lag grows.")),
		},
		{
			Name: "SentinelNoWindowClosed", Severity: Warning, For: 5 * time.Minute, Runbook: "sentinelnowindowclosed",
			Expr: func(o Options) string {
				r := promDuration(max(scale(10*time.Minute, o.TimeScale), 3*o.Window))
				return fmt.Sprintf("increase(sentinel_events_total[%s]) > 0 and increase(sentinel_windows_closed_total[%s]) == 0", r, r)
			},
			Summary: parts(txt("Model "), Label("model"), txt(" receives events but no window closes")),
			Description: parts(txt("Model "), Label("model"), txt(" received "), ValueAs("count"),
				txt(" events recently, yet no window of it has been closed and checked for "), For,
				txt(": its watermark is stuck (a partition with old event times, clocks skewed into the future) "+
					"and none of its checks run.")),
		},
		{
			Name: "SentinelPartitionsUnreported", Severity: Warning, For: 10 * time.Minute, Runbook: "sentinelpartitionsunreported",
			Expr:    func(Options) string { return "sentinel_partitions_unreported > 0" },
			Summary: parts(txt("Sentinel "), Label("instance"), txt(": "), ValueAs("count"), txt(" partitions of the events topic report nothing")),
			Description: parts(ValueAs("count"), txt(" partitions of the events topic report nothing to Sentinel "), Label("instance"),
				txt(", and have not for "), For, txt(": a window is checked only once every partition has passed it, so no "+
					"window closes and no check runs until whoever holds them reports.")),
		},
		{
			Name: "SentinelChecksSkipped", Severity: Info, For: time.Hour, Runbook: "sentinelchecksskipped",
			Expr: func(o Options) string {
				r := promDuration(scale(30*time.Minute, o.TimeScale))
				return fmt.Sprintf("sum by (job, instance, model, kind, reason) (increase(sentinel_checks_skipped_total[%s]))"+
					" / on (job, instance, model) group_left () sum by (job, instance, model) (increase(sentinel_windows_closed_total[%s])) > 0.5", r, r)
			},
			Summary: parts(txt("Model "), Label("model"), txt(": "), Label("kind"), txt(" checks skipped ("), Label("reason"), txt(")")),
			Description: parts(txt("On average "), ValueAs("value"), txt(" "), Label("kind"), txt(" checks per window of model "),
				Label("model"), txt(" did not run ("), Label("reason"), txt(": a side held fewer values than drift.min_samples), for "),
				For, txt(". Those features are not being watched for "), Label("kind"), txt(".")),
		},
	}
}

// defaultJob is the scrape job the health alerts expect by default: a
// ServiceMonitor names the job after the Service, which the chart names
// after the release and "sentinel".
const defaultJob = ".*sentinel.*"
