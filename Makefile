# hotel-ops: `make demo` runs the suite, `make test` runs every test.
# Both install what they need on a fresh Debian machine: apt packages when
# missing, Go tools at pinned versions into ./bin (kept out of go.mod).

SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The Go module of Prometheus tags release 3.MM.P as v0.3MM.P: this is 3.16.0.
PROMETHEUS_VERSION  := v0.316.0
NODE_EXPORTER_VERSION := v1.12.1
STATICCHECK_VERSION := v0.8.2
BENCHSTAT_VERSION   := v0.0.0-20260908200009-22c9c6c9d4da
VERSITYGW_VERSION   := v1.8.0
AMTOOL_VERSION      ?= v0.35.0

# Debian packages the tests and the demo talk to, and a file each installs.
APT_PACKAGES := postgresql:/usr/lib/postgresql/15/bin/initdb redis-server:/usr/bin/redis-server pgbackrest:/usr/bin/pgbackrest prometheus-alertmanager:/usr/bin/prometheus-alertmanager chromium:/usr/bin/chromium poppler-utils:/usr/bin/pdftoppm pgbouncer:/usr/sbin/pgbouncer

.PHONY: all build test lint race unit fuzz bench demo soak tools apt-deps clean generate mixin

all: build

build:
	$(GO) build -o $(BIN)/ ./exporters/... ./mixin/mixgen ./webhook/escalator ./demo/hotelapp

## generate: rules/, rules/tests/, dashboards/, alertmanager/ and runbooks/
## from the threshold spec (mixin/spec/defaults.yaml, plus SPEC_FILES).
SPEC_FILES ?=
generate:
	$(GO) run ./mixin/mixgen $(foreach f,$(SPEC_FILES),--spec.file=$(f))

## mixin: the whole generate-and-test run of the mixin, timed: regenerate
## and compare, promtool lint and rule tests, amtool, and the cross-checks.
mixin: $(BIN)/promtool $(BIN)/amtool
	time ( $(GO) run ./mixin/mixgen --check && \
	  $(BIN)/promtool check rules --lint=all --lint-fatal rules/*.yml && \
	  $(BIN)/promtool test rules rules/tests/*_test.yml && \
	  $(BIN)/amtool check-config alertmanager/alertmanager.yml && \
	  PATH=$(BIN):$$PATH $(GO) test -count=1 ./mixin/... )

## tools: everything the tests need, installed only when missing.
tools: apt-deps $(BIN)/promtool $(BIN)/prometheus $(BIN)/node_exporter $(BIN)/amtool $(BIN)/staticcheck $(BIN)/benchstat $(BIN)/versitygw

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  pkg=$${p%%:*}; file=$${p#*:}; [ -e "$$file" ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BIN)/promtool:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

# prometheus: the server of the end-to-end tests (internal/testenv), at
# promtool's version so the two share one build. go install leaves out the
# web UI (it needs the builtinassets tag and a built UI) and the version
# string; the HTTP API, /-/ready and /-/reload are all there.
$(BIN)/prometheus:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)

# node_exporter: a real scrape target for the end-to-end tests.
$(BIN)/node_exporter:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/node_exporter@$(NODE_EXPORTER_VERSION)

# amtool: checks the generated alertmanager.yml (mixin/alertmanager).
$(BIN)/amtool:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/alertmanager/cmd/amtool@$(AMTOOL_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# versitygw: the S3 server (Apache-2.0) the tests and the demo store backups in.
$(BIN)/versitygw:
	GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(BIN)/benchstat:
	GOBIN=$(BIN) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

## lint: formatting, vet and staticcheck.
lint: $(BIN)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

## race: the tests of the packages that run goroutines of their own (the
## stores, the engine, the notifiers and the Alertmanager client, the API,
## the collectors, pitr_exporter's watcher and monitor, sla_exporter's
## query runner and SLA and incident collectors, the demo
## application and the test servers' recorders), under the race detector.
## Packages whose tests start the binaries themselves are left out: the
## detector would not see into the processes they start.
RACE_PACKAGES := ./webhook/store ./webhook/escalate ./webhook/notify ./webhook/amsync ./webhook/api ./webhook/callback \
  ./exporters/pgha_exporter/collector ./exporters/pitr_exporter ./exporters/pitr_exporter/s3store \
  ./exporters/sla_exporter/business ./exporters/sla_exporter/sla ./exporters/sla_exporter/incidents \
  ./internal/hotelapp ./internal/testenv
race: tools
	PATH=$(BIN):$$PATH $(GO) test -race -count=1 -timeout 30m $(RACE_PACKAGES)

## unit: every other Go test, against real servers on loopback (fuzz seeds
## included).
MODULE = $(shell $(GO) list -m)
UNIT_PACKAGES = $(filter-out $(RACE_PACKAGES:./%=$(MODULE)/%),$(shell $(GO) list ./...))
unit: tools
	PATH=$(BIN):$$PATH $(GO) test -count=1 -timeout 30m $(UNIT_PACKAGES)

## test: what CI runs (.ci/run): lint, then every test once, those of
## RACE_PACKAGES under the race detector.
test: tools lint race unit

## fuzz: run each fuzz target for FUZZTIME (the seeds alone run in `make test`).
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

## bench: the scrape benchmark of pgha_exporter, the refresh benchmark of
## pitr_exporter (PITR_BENCH_SEGMENTS synthetic WAL objects, default
## 1,000,000) and its restore test (PITR_BENCH_RESTORE_SEGMENTS real WAL
## segments, default 2,000), sla_exporter's scrape (over HTTP, a query hanging) and
## monthly report, and escalator's store benchmarks; each part's README
## has the figures.
BENCHTIME ?= 10000x
bench: tools
	set -o pipefail; $(GO) test ./exporters/pgha_exporter/collector -run '^$$' -bench 'BenchmarkScrape' -benchtime $(BENCHTIME) -count 6 -timeout 30m | tee bench.txt
	$(BIN)/benchstat bench.txt
	set -o pipefail; PATH=$(BIN):$$PATH $(GO) test ./exporters/pitr_exporter -run '^$$' -bench 'BenchmarkRefresh' -benchtime 1x -timeout 60m -v | tee bench-pitr.txt
	set -o pipefail; PATH=$(BIN):$$PATH $(GO) test ./exporters/pitr_exporter -run '^$$' -bench 'BenchmarkRestoreTest' -benchtime 1x -timeout 60m -v | tee -a bench-pitr.txt
	set -o pipefail; PATH=$(BIN):$$PATH $(GO) test ./exporters/sla_exporter -run '^$$' -bench 'BenchmarkScrapeFromOutside' -benchtime 10000x -timeout 30m | tee bench-sla.txt
	set -o pipefail; PATH=$(BIN):$$PATH $(GO) test ./exporters/sla_exporter/report -run '^$$' -bench 'BenchmarkMonthReport' -benchtime 5x -timeout 30m | tee -a bench-sla.txt
	set -o pipefail; $(GO) test ./webhook/store -run '^$$' -bench 'BenchmarkDiskSync' -benchtime 1x -count 3 -timeout 10m | tee bench-escalator.txt
	set -o pipefail; $(GO) test ./webhook/api -run '^$$' -bench 'BenchmarkStores' -benchtime 1x -count 3 -timeout 60m | tee -a bench-escalator.txt
	set -o pipefail; $(GO) test ./webhook/store -run '^$$' -bench 'BenchmarkPruneHistory' -benchtime 1x -count 3 -timeout 30m | tee -a bench-escalator.txt
	set -o pipefail; $(GO) test ./webhook/escalator -run '^$$' -bench 'BenchmarkActionsFromOutside' -benchtime 200x -count 3 -timeout 10m | tee -a bench-escalator.txt
	$(BIN)/benchstat bench-escalator.txt

## bench-pgha: pgha_exporter scraped over loopback HTTP, one scrape at a
## time, against a private primary grown to fleet shapes
## (exporters/pgha-load): 200, 2,000 and 5,000 idle connections (each with
## max_connections just above it), 100 slots, 10 standbys, 200 databases;
## latency, the server's CPU in the exporter's sessions, statements.
.PHONY: bench-pgha
bench-pgha: apt-deps
	mkdir -p $(BIN)
	$(GO) build -o $(BIN)/pgha_exporter ./exporters/pgha_exporter
	$(GO) build -o $(BIN)/pgha-load ./exporters/pgha-load
	$(BIN)/pgha-load --exporter-binary=$(BIN)/pgha_exporter --by-statement

## bench-escalator: escalator driven over loopback HTTP as Alertmanager
## drives it in a storm (webhook/escalator-load): `storm`, 500 deliveries/s
## of 10 alerts from two HA peers for 60 s, and `throughput`, 64 senders for
## 30 s, on the embedded store and on PostgreSQL (the database of
## ESCALATOR_PG_DSN when set, else a private server started as the tests
## start theirs). Tables on the terminal; JSON in bin/bench-escalator-*.json.
BENCH_ESCALATOR_STORES ?= embedded postgres
.PHONY: bench-escalator
bench-escalator:
	mkdir -p $(BIN)
	$(GO) build -o $(BIN)/escalator ./webhook/escalator
	$(GO) build -o $(BIN)/escalator-load ./webhook/escalator-load
	set -e; for store in $(BENCH_ESCALATOR_STORES); do \
	  $(BIN)/escalator-load storm --spawn --escalator-binary=$(BIN)/escalator --store=$$store \
	    --rate=500 --alerts=10 --duration=60s --ha-peers=2 --json > $(BIN)/bench-escalator-storm-$$store.json; \
	  $(BIN)/escalator-load throughput --spawn --escalator-binary=$(BIN)/escalator --store=$$store \
	    --senders=64 --duration=30s --json > $(BIN)/bench-escalator-throughput-$$store.json; \
	done

## demo: the whole suite with its shipped configuration, until Ctrl-C. The
## binary runs in place of `go run`, which exits 1 when interrupted: the demo
## itself exits 0 once it has removed everything.
demo: apt-deps $(BIN)/versitygw $(BIN)/prometheus $(BIN)/node_exporter
	$(GO) build -o $(BIN)/demo ./demo
	PATH=$(BIN):$$PATH $(BIN)/demo

## soak: the healthy suite, as make demo runs it, for SOAK (default 20m);
## prints every page it sent and exits 1 if there was any. Not part of test.
SOAK ?= 20m
soak: apt-deps $(BIN)/versitygw $(BIN)/prometheus $(BIN)/node_exporter
	$(GO) build -o $(BIN)/demo ./demo
	PATH=$(BIN):$$PATH $(BIN)/demo --soak=$(SOAK)

clean:
	rm -rf $(BIN) bench.txt bench-pitr.txt bench-escalator.txt bench-sla.txt
