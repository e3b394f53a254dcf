CREATE DATABASE IF NOT EXISTS `sentinel`;

CREATE TABLE IF NOT EXISTS `sentinel`.schema_migrations (
    version UInt32,
    applied_at DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY version;

-- schema version 1

CREATE TABLE IF NOT EXISTS `sentinel`.`window_profiles` (
    model String,
    feature String,
    window_start DateTime,
    window_start_ms UInt16,
    window_end DateTime,
    window_end_ms UInt16,
    kafka_partition Int32,
    row_count UInt64,
    null_count UInt64,
    nan_count UInt64,
    pos_inf_count UInt64,
    neg_inf_count UInt64,
    finite_count UInt64,
    min_value Float64,
    max_value Float64,
    mean Float64,
    stddev Float64,
    violation_kinds Array(String),
    violation_counts Array(UInt64),
    distinct_estimate Float64,
    state String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, feature, window_start, window_start_ms, kafka_partition);

CREATE TABLE IF NOT EXISTS `sentinel`.`check_results` (
    model String,
    window_start DateTime,
    window_start_ms UInt16,
    window_end DateTime,
    window_end_ms UInt16,
    kind String,
    feature String,
    metric String,
    value Float64,
    threshold Float64,
    breached UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window_start, window_start_ms, kind, feature, metric);

CREATE TABLE IF NOT EXISTS `sentinel`.`anomalies` (
    model String,
    window_start DateTime,
    window_start_ms UInt16,
    window_end DateTime,
    window_end_ms UInt16,
    score Float64,
    is_anomaly UInt8,
    statistic String,
    cause_metrics Array(String),
    cause_actual Array(Float64),
    cause_expected Array(Float64),
    cause_contribution Array(Float64),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window_start, window_start_ms);

CREATE TABLE IF NOT EXISTS `sentinel`.`rejected_counts` (
    model String,
    reason String,
    window_start DateTime,
    window_start_ms UInt16,
    kafka_partition Int32,
    message_count UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, reason, window_start, window_start_ms, kafka_partition);

-- schema version 2

CREATE TABLE IF NOT EXISTS `sentinel`.`reference_summaries` (
    model String,
    feature String,
    window_start DateTime,
    window_start_ms UInt16,
    state String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, feature, window_start, window_start_ms);

-- schema version 3

ALTER TABLE `sentinel`.`check_results` ADD COLUMN skipped String;

-- schema version 4

RENAME TABLE `sentinel`.`rejected_counts` TO `sentinel`.`rejected_counts_v1`;

CREATE TABLE IF NOT EXISTS `sentinel`.`rejected_counts` (
    model String,
    reason String,
    topic String,
    window_start DateTime,
    window_start_ms UInt16,
    kafka_partition Int32,
    message_count UInt64,
    through_offset Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, reason, topic, kafka_partition, window_start, window_start_ms);

-- schema version 5

CREATE TABLE IF NOT EXISTS `sentinel`.`alerts` (
    model String,
    alert String,
    fingerprint String,
    window_start DateTime,
    window_start_ms UInt16,
    state String,
    severity String,
    label_names Array(String),
    label_values Array(String),
    value Float64,
    starts_at DateTime,
    starts_at_ms UInt16,
    ends_at DateTime,
    ends_at_ms UInt16,
    summary String,
    description String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, alert, fingerprint, window_start, window_start_ms, state);

-- schema version 6

ALTER TABLE `sentinel`.`check_results` ADD COLUMN model_version String;
