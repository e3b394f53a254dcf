{{/* Names: the usual chart conventions, truncated to the 63 characters of a label. */}}
{{- define "sentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sentinel.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sentinel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sentinel.labels" -}}
helm.sh/chart: {{ include "sentinel.chart" . }}
{{ include "sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sentinel
{{- end }}

{{- define "sentinel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sentinel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sentinel.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Where the pod mounts what sentinel.yaml points at. */}}
{{- define "sentinel.configDir" -}}/etc/sentinel/config{{- end }}
{{- define "sentinel.baselinesDir" -}}/etc/sentinel/baselines{{- end }}
{{- define "sentinel.secretsDir" -}}/etc/sentinel/secrets{{- end }}

{{/* The port of config.listen.http; the schema makes it numeric. */}}
{{- define "sentinel.port" -}}
{{- regexReplaceAll "^.*:" .Values.config.listen.http "" }}
{{- end }}

{{/*
sentinel.seconds: a Go duration ("1m30s", "45s", "1.5m") in whole seconds,
rounded up; the schema allows only what this reads.
*/}}
{{- define "sentinel.seconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" }}
{{- $total = addf $total (mulf $number (get $units $unit)) }}
{{- end }}
{{- ceil $total | int }}
{{- end }}

{{/* The grace period: shutdown_timeout plus 15 seconds, or the value, which must exceed it. */}}
{{- define "sentinel.terminationGracePeriodSeconds" -}}
{{- $shutdown := include "sentinel.seconds" (.Values.config.shutdown_timeout | default "30s") | int }}
{{- $grace := .Values.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $grace }}
{{- add $shutdown 15 }}
{{- else if le (int $grace) $shutdown }}
{{- fail (printf "terminationGracePeriodSeconds: %d must exceed config.shutdown_timeout (%s), or the kubelet kills Sentinel while it still drains its windows" (int $grace) (.Values.config.shutdown_timeout | default "30s")) }}
{{- else }}
{{- $grace }}
{{- end }}
{{- end }}

{{/*
sentinel.secretRef: how sentinel.yaml names one secret: {env: NAME} or
{file: PATH}, after secrets.mountAs. Takes (list $ "clickhouse-dsn" "SENTINEL_CLICKHOUSE_DSN").
*/}}
{{- define "sentinel.secretRef" -}}
{{- $root := index . 0 }}
{{- if eq $root.Values.secrets.mountAs "env" }}
{{- dict "env" (index . 2) | toJson }}
{{- else }}
{{- dict "file" (printf "%s/%s/value" (include "sentinel.secretsDir" $root) (index . 1)) | toJson }}
{{- end }}
{{- end }}

{{/*
sentinel.config: sentinel.yaml, from .Values.config with the models and the
references to the secrets added. Every cross-value rule the schema cannot state
fails here, naming the values involved.
*/}}
{{- define "sentinel.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $kafka := $cfg.kafka }}
{{- $secrets := .Values.secrets }}
{{- /* Kafka SASL: the password from its Secret, never from values. */}}
{{- if and $kafka.sasl (not $secrets.kafkaPassword.name) }}
{{- fail "config.kafka.sasl needs secrets.kafkaPassword.name: the password comes from an existing Secret" }}
{{- end }}
{{- if $secrets.kafkaPassword.name }}
{{- if not $kafka.sasl }}
{{- fail "secrets.kafkaPassword is set but config.kafka.sasl is not: set its mechanism and username" }}
{{- end }}
{{- $_ := set $kafka.sasl "password" (include "sentinel.secretRef" (list . "kafka-password" "SENTINEL_KAFKA_PASSWORD") | fromJson) }}
{{- end }}
{{- /* Kafka TLS files from their Secret. */}}
{{- with $secrets.kafkaTLS }}
{{- if .name }}
{{- $tls := $kafka.tls | default dict }}
{{- range $field, $key := dict "ca_file" .caKey "cert_file" .certKey "key_file" .keyKey }}
{{- if $key }}
{{- if hasKey $tls $field }}
{{- fail (printf "config.kafka.tls.%s and secrets.kafkaTLS both name the file: keep one" $field) }}
{{- end }}
{{- $_ := set $tls $field (printf "%s/kafka-tls/%s" (include "sentinel.secretsDir" $) $key) }}
{{- end }}
{{- end }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail "secrets.kafkaTLS: certKey and keyKey go together (a client certificate needs its key)" }}
{{- end }}
{{- $_ := set $kafka "tls" $tls }}
{{- end }}
{{- end }}
{{- /* ClickHouse: the DSN may hold a password, so it only comes from a Secret. */}}
{{- $_ := set $cfg.clickhouse "dsn_from" (include "sentinel.secretRef" (list . "clickhouse-dsn" "SENTINEL_CLICKHOUSE_DSN") | fromJson) }}
{{- /* Models: the contracts sit beside sentinel.yaml, the baselines in their own volume. */}}
{{- $models := list }}
{{- $seen := dict }}
{{- range $i, $m := .Values.models }}
{{- if hasKey $seen $m.name }}
{{- fail (printf "models[%d].name: %q is also models[%d].name" $i $m.name (get $seen $m.name)) }}
{{- end }}
{{- $_ := set $seen $m.name $i }}
{{- $contract := fromYaml $m.contract }}
{{- if hasKey $contract "Error" }}
{{- fail (printf "models[%d].contract (%s): not YAML: %s" $i $m.name (get $contract "Error")) }}
{{- end }}
{{- if ne (toString (get $contract "model")) $m.name }}
{{- fail (printf "models[%d]: name %q but its contract says model: %q" $i $m.name (toString (get $contract "model"))) }}
{{- end }}
{{- $baseline := $m.baseline | default (printf "%s.json" $m.name) }}
{{- if and (not $.Values.baselines.volume) (contains "/" $baseline) }}
{{- fail (printf "models[%d] (%s): baseline %q is in a folder, which a ConfigMap cannot hold: use baselines.volume" $i $m.name $baseline) }}
{{- end }}
{{- if and $.Values.baselines.files (not (hasKey $.Values.baselines.files $baseline)) }}
{{- fail (printf "models[%d] (%s): baseline %q is not in baselines.files" $i $m.name $baseline) }}
{{- end }}
{{- $models = append $models (dict "contract" (printf "%s.contract.yaml" $m.name) "baseline" (printf "../baselines/%s" $baseline)) }}
{{- end }}
{{- $_ := set $cfg "models" $models }}
{{- toYaml $cfg }}
{{- end }}

{{/* sentinel.validate: the rules that span values, checked once per render. */}}
{{- define "sentinel.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not (include "sentinel.scaledOut" .)) }}
{{- fail (printf "replicas: %d: more than one replica needs config.kafka.topics.partials and config.kafka.partials.partitions. A window is checked from every partition of the events topic: replicas each reading some of them publish their shares of each window to the partials topic, and one replica per model merges and checks them. Without it, give one pod more CPU (one goroutine per partition)." (int .Values.replicas)) }}
{{- end }}
{{- $sources := 0 }}
{{- if .Values.baselines.files }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.baselines.existingConfigMap }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.baselines.volume }}{{ $sources = add1 $sources }}{{ end }}
{{- if ne $sources 1 }}
{{- fail (printf "baselines: set exactly one of files, existingConfigMap and volume; %d are set (existingConfigMap defaults to sentinel-baselines: set it to \"\" to use files or volume)" $sources) }}
{{- end }}
{{- if and .Values.baselines.subPath (not .Values.baselines.volume) }}
{{- fail "baselines.subPath applies to baselines.volume only" }}
{{- end }}
{{- $size := 0 }}
{{- range $name, $content := .Values.baselines.files }}
{{- $size = add $size (len $name) (len $content) }}
{{- end }}
{{- if gt $size 1048576 }}
{{- fail (printf "baselines.files: %d bytes in all, past a ConfigMap's 1 MiB (1048576): put the baselines in baselines.volume (a PersistentVolumeClaim, an image volume…)" $size) }}
{{- end }}
{{- $host := regexReplaceAll ":[0-9]+$" .Values.config.listen.http "" }}
{{- if or (eq $host "localhost") (hasPrefix "127." $host) (eq $host "[::1]") }}
{{- fail (printf "config.listen.http: %q listens on loopback, where neither the kubelet's probes nor Prometheus reach it; use \":%s\"" .Values.config.listen.http (include "sentinel.port" .)) }}
{{- end }}
{{- with .Values.podDisruptionBudget }}
{{- if and .enabled (eq (kindIs "invalid" .minAvailable) (kindIs "invalid" .maxUnavailable)) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (null the other)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* sentinel.scaledOut: non-empty when the configuration splits the work in two stages over replicas. */}}
{{- define "sentinel.scaledOut" -}}
{{- $k := .Values.config.kafka | default dict }}
{{- if and (($k.topics | default dict).partials) (($k.partials | default dict).partitions) }}true{{ end }}
{{- end }}
