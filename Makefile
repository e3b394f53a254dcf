# Sentinel — the two commands a new machine needs are `make demo` and `make test`.
GO       ?= go
BIN      := bin/sentinel
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DEMO_DIR := bin/demo

.PHONY: build test vet bench bench-go bench-compare bench-replay healthy demo fuzz soak clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sentinel

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The store's integration tests need a ClickHouse server: scripts/clickhouse.sh
# installs Debian's package when missing, starts a private server on loopback
# (or reuses one) and prints its DSN. scripts/promtool.sh provides promtool, which
# lints the exposed metrics and the alert rules; scripts/alertmanager.sh provides
# Alertmanager and amtool for the alerting tests; scripts/chromium.sh provides the
# headless browser that loads the status page. Kafka tests run an in-process broker.
# scripts/govulncheck.sh fails on a vulnerable module the code reaches and lists
# the standard library's findings with the Go release that fixes them.
# TestDemo runs live traffic in compressed time (a window a second) and
# judges what fires: it runs after the rest, on a machine as quiet as `make
# demo` has, not beside two other packages' tests. The command's tests take
# six minutes of the default ten a package is given: a slow machine should
# not fail them for that.
test: vet
	@scripts/govulncheck.sh
	@dsn=$$(scripts/clickhouse.sh start) && export "$$dsn" && \
	  tool=$$(scripts/promtool.sh) && export "$$tool" && \
	  am=$$(scripts/alertmanager.sh) && export $$am && \
	  browser=$$(scripts/chromium.sh) && export "$$browser" && \
	  $(GO) test -count=1 -timeout 30m -skip '^TestDemo$$' ./... && \
	  $(GO) test -count=1 -run '^TestDemo$$' ./internal/demo
	@tool=$$(scripts/helm.sh) && export "$$tool" && cd helm/tests && $(GO) vet ./... && $(GO) test -count=1 ./...
	@dsn=$$(scripts/clickhouse.sh start) && export "$$dsn" && cd dashboards/tests && $(GO) vet ./... && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=30000x

# Benchmarks: Go micro-benchmarks, then compare end to end on a generated
# 1,000,000-row, 10-column CSV with its throughput and peak memory, then
# replay end to end on issue #17's traffic shapes against decoding the same
# files into maps with sonic.
bench: bench-go bench-compare bench-replay

# One core, as the goals are stated per core; the daemon's share of a bare
# Kafka reader also on two, both sides given both (kafka-go, the in-process
# broker and the pipeline then overlap, as they do in a deployment); the
# profile stage with one worker and two on two cores (how a process scales).
bench-go:
	@dsn=$$(scripts/clickhouse.sh start) && export "$$dsn" && \
	  GOMAXPROCS=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./... && \
	  $(GO) test -run '^$$' -bench 'DaemonThroughKafka|DaemonSlowStore' -cpu 2 -benchtime 1s ./internal/daemon && \
	  $(GO) test -run '^$$' -bench 'ProfileStage' -cpu 2 -benchtime 5x ./internal/pipeline

bench-compare: build
	scripts/bench-compare.sh $(BIN)

bench-replay: build
	scripts/bench-replay.sh $(BIN)

# Issues #15 and #16's measurement: simulated healthy traffic (a daily curve,
# twenty features of every shape, a probability prediction, delayed labels)
# the way a user meets Sentinel: a contract inferred from a training sample,
# its baseline, and replay, in 1- and 5-minute windows of 100, 1,000 and
# 10,000 events on average, three days each (two for 10,000 a minute); then
# every kind of incident at the event level on GRID_SEEDS seeds (issue #15
# states its recall over ten). Prints markdown tables; about twenty minutes
# with two cores.
GRID_SEEDS ?= 10
healthy:
	$(GO) test -count=1 -timeout 4h -v -run '^TestGrid$$' ./internal/traffic/trafficbench/ \
	  -args -grid -grid.days=3 -grid.bigdays=2 -grid.seeds=$(GRID_SEEDS)

# Fuzzing of every decoder of outside input: FUZZTIME each (make test runs
# 30,000 inputs each, a second or so, as a smoke test; run longer by hand, e.g.
# FUZZTIME=10m). make test counts inputs rather than time: with a duration,
# Go 1.26's fuzzing coordinator can report its own deadline as a failure on a
# busy machine (go.dev/issue/75804, fixed in Go 1.27), with no failing input.
# Each target is named whole: -fuzz refuses a pattern that matches two.
FUZZ_TARGETS = event:FuzzDecode event:FuzzDecodeReuse numparse:FuzzParseFloat dataset:FuzzCSV dataset:FuzzJSONL \
  config:FuzzParseContract profile:FuzzSummaryState profile:FuzzFeatureState labels:FuzzPerformanceState cbpe:FuzzCalibration \
  window:FuzzReadPartial pipeline:FuzzReadRecord
FUZZTIME ?= 10s
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t"; $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./internal/$${t%%:*}/; done

# The soak, not part of make test: the daemon, built from the tree, at half its
# measured maximum rate for SOAK_DURATION through the in-process broker and a
# private ClickHouse, with a SIGKILL and a ClickHouse restart along the way;
# memory, goroutines and lag must stay flat. Samples go to bin/soak/soak.csv.
SOAK_DURATION ?= 30m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -run '^TestSoak$$' -v -timeout 90m ./cmd/sentinel

# The whole system on one machine, then the offline checks on the shipped
# example: `sentinel demo` runs an in-process Kafka broker, two models'
# traffic with incidents on a schedule and the daemon, storing in the
# ClickHouse scripts/clickhouse.sh starts, and prints the alerts as they fire
# and a scorecard (its status page is on http://127.0.0.1:9090/ while it
# runs). Then a baseline from training data, a healthy serving sample that
# passes, one with an incident that fails the gate, a replay and a backtest.
DEMO_FLAGS ?=
demo: build
	@mkdir -p $(DEMO_DIR)
	@echo "== sentinel demo: the daemon on live traffic with incidents (3 minutes)"
	@dsn=$$(scripts/clickhouse.sh start) && export "$$dsn" && $(BIN) demo $(DEMO_FLAGS)
	@echo
	@echo "== sentinel baseline: profile the training data"
	$(BIN) baseline --contract examples/fraud/contract.yaml --input examples/fraud/train.csv --out $(DEMO_DIR)/baseline.json
	@echo
	@echo "== sentinel compare: a healthy serving sample (exit 0 expected)"
	$(BIN) compare --baseline $(DEMO_DIR)/baseline.json --contract examples/fraud/contract.yaml --input examples/fraud/serving-ok.csv
	@echo
	@echo "== sentinel compare: a serving sample with an upstream incident (exit 1 expected)"
	@$(BIN) compare --baseline $(DEMO_DIR)/baseline.json --contract examples/fraud/contract.yaml --input examples/fraud/serving-incident.csv; \
	  code=$$?; if [ $$code -ne 1 ]; then echo "expected exit 1 (drift found), got $$code"; exit 1; fi; \
	  echo; echo "compare exited 1: the CI gate would have stopped this deploy."
	@echo
	@echo "== sentinel replay: two hours of recorded traffic (events and delayed labels), an incident in the second"
	$(BIN) replay --input examples/fraud/events.jsonl --contract examples/fraud/contract.yaml \
	  --baseline $(DEMO_DIR)/baseline.json --window 5m --fit-after 10 --output $(DEMO_DIR)/findings.jsonl
	@echo "summary:"; tail -1 $(DEMO_DIR)/findings.jsonl
	@echo "findings by window hour and kind:"
	@grep -v '"kind":"summary"' $(DEMO_DIR)/findings.jsonl | grep -o '"window_start":"[^"]*T[0-9][0-9]\|"kind":"[a-z]*"' | paste - - | sed 's/"window_start":"//; s/"kind"://' | sort | uniq -c
	@echo "first anomaly of the incident, with its causes:"
	@grep '"kind":"anomaly"' $(DEMO_DIR)/findings.jsonl | grep '"window_start":"2026-11-20T10:00' | head -1
	@echo
	@echo "== sentinel backtest: three weeks of hourly window metrics with an incident near the end"
	$(BIN) backtest --input examples/fraud/windows.csv --period 24 --format text

clean:
	rm -rf bin
