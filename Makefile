# gtc — the Gas Town coordinator. `make run` starts it on a demo workspace; `make test` runs every suite.
GO      ?= go
BIN     := bin/gtc
DEMO    ?= demo
TSDIR   := clients/typescript
FUZZTIME ?= 10s
# Fuzz targets as package:Function.
FUZZ_TARGETS := ./beads:FuzzParseEncode ./beads:FuzzDecodeIssue ./rpc:FuzzFrameReader ./rpc:FuzzDispatch ./rpc:FuzzParseMessage ./rpc:FuzzDecodeParams ./rpc:FuzzParsePush ./rpc:FuzzDecodeAssignment ./rpc:FuzzParseReply ./rpc:FuzzDecodeString
# kill -9 cycles of `make crash-test` (`make test` runs the short form: 3).
CRASH_KILLS ?= 20

.PHONY: build run test test-go test-ts vet bench bench-load fuzz fuzz-short crash-test pgo clean

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/gtc

# The newcomer's first command: a coordinator on ./demo (created on first run), embedded SQLite, no setup.
run: build
	@test -f $(DEMO)/.beads/issues.jsonl || ./$(BIN) --dir $(DEMO) init --demo
	./$(BIN) --dir $(DEMO) serve

# Every suite: vet, Go tests with the race detector (integration and short crash/load tests included),
# short fuzz runs, and the TypeScript client's build, unit and integration tests.
test: vet test-go fuzz-short test-ts

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...

test-ts: build
	cd $(TSDIR) && npm ci --no-audit --no-fund && npm run build && npm test

# Short fuzz runs that `make test` includes; `make fuzz` runs each target longer. The short runs are
# counted in executions, not seconds: Go 1.26's fuzz coordinator can report a spurious "context deadline
# exceeded" failure when a -fuzztime duration expires on a busy machine (golang/go#75804, fixed in 1.27);
# a count has no deadline to race. `make fuzz` runs for durations (FUZZTIME): there a bare "context
# deadline exceeded" with no "Failing input written to testdata/fuzz/..." is that bug, not a finding.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=4000x

fuzz:
	@set -e; for spec in $(FUZZ_TARGETS); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME); \
	done

# The long crash test: gtc serve killed with SIGKILL CRASH_KILLS times under reconnecting workers,
# checked after every restart (docs/reliability.md).
crash-test:
	GTC_CRASH_KILLS=$(CRASH_KILLS) $(GO) test -race -count=1 -run '^TestCrashKill9$$' -v -timeout 30m ./e2e/

# Go benchmarks, then the load-test runs of docs/benchmarks.md once each (JSON in bench-results/, gitignored).
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./... 
	@mkdir -p bench-results
	./$(BIN) loadtest --agents 100 --rate 100 --duration 10s --baseline --json > bench-results/latency-100x100.json
	./$(BIN) loadtest --agents 30 --issues 500 --json > bench-results/throughput-30x500.json
	./$(BIN) loadtest --agents 100 --issues 10000 --json > bench-results/throughput-100x10k.json
	./$(BIN) loadtest --agents 1000 --issues 100000 --json > bench-results/throughput-1000x100k.json
	./$(BIN) loadtest --agents 10000 --issues 100000 --json > bench-results/throughput-10000x100k.json
	./$(BIN) profile --agents 25 --issues 100 --json > bench-results/profile-25x100.json
	./$(BIN) loadtest --scenario all --work-time 200ms --json > bench-results/scenarios.json

# The sequence behind docs/benchmarks.md's targets table (~3 minutes on an idle 2-core machine; run
# nothing else meanwhile): each load-test row repeated, one JSON file a run in bench-results/load-<UTC time>/.
bench-load: build
	@set -e; d=bench-results/load-$$(date -u +%Y%m%dT%H%M%SZ); mkdir -p $$d; echo "JSON results in $$d"; \
	ulimit -n 20000 2>/dev/null || true; date -u > $$d/started; uptime >> $$d/started; \
	for i in 1 2 3; do ./$(BIN) loadtest --agents 100 --rate 100 --duration 10s --baseline --json > $$d/latency-100x100-$$i.json; done; \
	for i in 1 2 3 4 5; do ./$(BIN) loadtest --agents 30 --issues 500 --json > $$d/throughput-30x500-$$i.json; done; \
	for i in 1 2; do ./$(BIN) loadtest --agents 100 --issues 10000 --json > $$d/throughput-100x10k-$$i.json; done; \
	for i in 1 2 3; do ./$(BIN) loadtest --agents 1000 --issues 100000 --json > $$d/throughput-1000x100k-$$i.json; done; \
	./$(BIN) loadtest --agents 10000 --issues 100000 --json > $$d/throughput-10000x100k.json; \
	./$(BIN) profile --agents 25 --issues 100 --json > $$d/profile-25x100.json; \
	./$(BIN) loadtest --scenario all --work-time 200ms > $$d/scenarios.txt 2>&1; \
	date -u > $$d/ended

# Rebuilds cmd/gtc/default.pgo, the CPU profile `go build` uses for profile-guided optimization of the
# gtc binary (Go picks up default.pgo in the main package by itself). The profile merges the server and
# the load generator (the same binary) in three workloads: the 1,000 x 100,000 drain, the 100-agent
# latency run and a 30-agent drain. The binary profiled is built without PGO so the profile does not
# feed on itself. Run it after large changes to the hot paths and commit the new file.
PGO_TMP ?= /tmp/gtc-pgo
pgo:
	@rm -rf $(PGO_TMP) && mkdir -p $(PGO_TMP)
	$(GO) build -pgo=off -o $(PGO_TMP)/gtc ./cmd/gtc
	$(PGO_TMP)/gtc loadtest --agents 1000 --issues 100000 --json --cpuprofile $(PGO_TMP)/d1.prof --server-cpuprofile $(PGO_TMP)/s1.prof > /dev/null
	$(PGO_TMP)/gtc loadtest --agents 100 --rate 100 --duration 10s --json --cpuprofile $(PGO_TMP)/d2.prof --server-cpuprofile $(PGO_TMP)/s2.prof > /dev/null
	$(PGO_TMP)/gtc loadtest --agents 30 --issues 20000 --json --cpuprofile $(PGO_TMP)/d3.prof --server-cpuprofile $(PGO_TMP)/s3.prof > /dev/null
	$(GO) tool pprof -proto $(PGO_TMP)/s1.prof $(PGO_TMP)/s2.prof $(PGO_TMP)/s3.prof $(PGO_TMP)/d1.prof $(PGO_TMP)/d2.prof $(PGO_TMP)/d3.prof > cmd/gtc/default.pgo

clean:
	rm -rf bin $(TSDIR)/dist
