# zaqar-go: Zaqar-compatible messaging service.
GO        ?= go
BIN       := bin
DATA      ?= ./data
PKGS      := ./...
# Packages with concurrency: always tested with the race detector.
RACE_PKGS := ./wal/... ./engine/... ./httpapi/... ./storage/... ./loadgen/... ./e2e/... ./pooling/... ./catalog/... ./sqldb/... ./redisstore/... ./notify/... ./keystone/... ./policy/...
FUZZTIME  ?= 3000x

.PHONY: all build run test test-unit test-race fuzz bench bench-server lint vet fmt-check clean

all: build

build:
	$(GO) build -o $(BIN)/zaqar-server ./cmd/zaqar-server
	$(GO) build -o $(BIN)/zaqar-bench ./cmd/zaqar-bench
	$(GO) build -o $(BIN)/zaqar-sql-db-manage ./cmd/zaqar-sql-db-manage

## run: start the server on 127.0.0.1:8888 with the embedded store under ./data
run: build
	$(BIN)/zaqar-server --data-dir $(DATA)

## test: vet, format check, the whole suite (race on concurrent packages), short fuzzing
test: lint test-unit test-race fuzz

test-unit:
	$(GO) test -count=1 -timeout 8m $(PKGS)

test-race:
	$(GO) test -race -count=1 -timeout 8m $(RACE_PKGS)

## fuzz: run every fuzz target briefly (seed corpora run in test-unit too)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$t"; \
	    log=$$(mktemp); \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1 || { grep -v '^fuzz: elapsed' $$log | tail -40; echo "FAIL fuzz $$pkg $$t"; rm -f $$log; exit 1; }; \
	    rm -f $$log; \
	  done; \
	done

## bench: Go benchmarks of every layer
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=2000x ./wal/ ./engine/ ./httpapi/ ./loadgen/ ./notify/ ./redisstore/

## bench-server: start our server on a temp dir and run zaqar-bench's default profile against it
bench-server: build
	bench/run-server.sh $(BENCH_ARGS)

lint: vet fmt-check

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf $(BIN)
