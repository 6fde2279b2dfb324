# pkb-go: every target runs from a fresh clone with nothing but Go installed.
SHELL := /bin/bash
GO ?= go
# Nested modules: server-side code (fosite, kin-openapi's filter), the CLI and
# the comparison benchmarks live there so that importers of the client packages
# never compile them. Each is tested on its own (GOWORK=off): go.work only
# serves `go run ./cmd/pkb` from the root, and must not change the versions
# the root module is tested with.
MODULES := . pkbtest authn/redisstore authn/pgstore cmd/pkb fleettest bench
export GOWORK := off
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH_COUNT ?= 10
FUZZTIME ?= 30s

.PHONY: all generate check-generated check-manifest test lint vet demo bench fleet drift api-diff go-apidiff fuzz

all: generate test

## generate: convert the FHIR schemas and regenerate every package in gen/
generate:
	$(GO) generate ./...

## check-generated: fail, printing the diff, if gen/ or the converted schemas differ from a fresh generation
check-generated: check-manifest generate
	@changes=$$(git status --porcelain --untracked-files=all -- gen api/openapi api/go-api generate.go search/spec_gen.go wrappers/operations_gen.go); \
	if [ -n "$$changes" ]; then \
		echo "check-generated: committed output differs from a fresh 'make generate':"; \
		echo "$$changes"; \
		git --no-pager diff --stat -- gen api/openapi api/go-api search/spec_gen.go wrappers/operations_gen.go; \
		git --no-pager diff -- gen api/openapi api/go-api search/spec_gen.go wrappers/operations_gen.go | head -n 300; \
		exit 1; \
	fi; \
	echo "check-generated: generated output is up to date"

## test: race-enabled tests of every module, plus vet
test: vet
	@set -e; for m in $(MODULES); do \
		if [ -f $$m/go.mod ]; then echo "== go test -race $$m/..."; (cd $$m && $(GO) test -race -count=1 ./...); fi; \
	done

## fuzz: every FuzzXxx target of every module, one at a time, FUZZTIME each (default 30s; FUZZ_MATCH=regexp to select)
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh $(MODULES)

vet:
	@set -e; for m in $(MODULES); do \
		if [ -f $$m/go.mod ]; then (cd $$m && $(GO) vet ./...); fi; \
	done

## lint: vet, gofmt and (when installed) golangci-lint
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; else echo "golangci-lint not installed; skipped"; fi

## demo: the whole client against the offline simulator
demo:
	GOWORK= $(GO) run ./cmd/pkb demo

## bench: wrapper overhead, the typed layer against the generated calls, page walking and FHIR decoding, compared with benchstat
bench:
	$(GO) test -run '^$$' -bench ReadPatient -count $(BENCH_COUNT) ./wrappers > /tmp/pkb-bench-read.txt
	$(BENCHSTAT) -col /impl /tmp/pkb-bench-read.txt
	$(GO) test -run '^$$' -bench TypedCall -count $(BENCH_COUNT) ./wrappers > /tmp/pkb-bench-typed.txt
	$(BENCHSTAT) -col /impl /tmp/pkb-bench-typed.txt
	$(GO) test -run '^$$' -bench TypedCall -count $(BENCH_COUNT) . > /tmp/pkb-bench-pkb.txt
	$(BENCHSTAT) -col /impl /tmp/pkb-bench-pkb.txt
	$(GO) test -run '^$$' -bench Walk100Pages -benchtime 3x ./wrappers
	cd bench && $(GO) test -run '^$$' -bench . -count $(BENCH_COUNT) > /tmp/pkb-bench-decode.txt
	$(BENCHSTAT) -col /impl /tmp/pkb-bench-decode.txt
	cd fleettest && $(GO) test -run '^$$' -bench FreshToken -count $(BENCH_COUNT) > /tmp/pkb-bench-store.txt
	$(BENCHSTAT) -col /store /tmp/pkb-bench-store.txt

## fleet: the 60 s multi-process acceptance runs of the shared token stores (PKB_FLEET_SECONDS to change)
fleet:
	cd fleettest && PKB_FLEET_SECONDS=$${PKB_FLEET_SECONDS:-60} $(GO) test -count=1 -timeout 30m -v -run TestFleet .

## check-manifest: fail, naming the file, when a source or generator changed since the last make generate
check-manifest:
	$(GO) run ./internal/cmd/manifest -check

## drift: capability drift of a saved Facade CapabilityStatement (STATEMENT=file, JSON=1) against the committed one and facade.yaml
drift:
	$(GO) run ./internal/cmd/capdrift $(if $(STATEMENT),-statement $(STATEMENT)) $(if $(JSON),-json)

## api-diff: oasdiff breaking changes and markdown changelog of every api/openapi/*.yaml since BASE (FAIL_ON_BREAKING=1 to gate)
api-diff:
	@test -n "$(BASE)" || { echo "usage: make api-diff BASE=<git rev>"; exit 2; }
	scripts/api-diff.sh $(BASE)

## go-apidiff: Go API compatibility of gen/, wrappers, authn, search, message since BASE (FAIL_ON_BREAKING=1 to gate)
go-apidiff:
	@test -n "$(BASE)" || { echo "usage: make go-apidiff BASE=<git rev>"; exit 2; }
	scripts/go-apidiff.sh $(BASE)
