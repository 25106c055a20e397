# zaqar-go: Zaqar-compatible messaging service.
GO        ?= go
BIN       := bin
DATA      ?= ./data
PKGS      := ./...
# Packages with concurrency: always tested with the race detector.
RACE_PKGS := ./wal/... ./engine/... ./httpapi/... ./storage/... ./loadgen/... ./e2e/... ./pooling/... ./catalog/... ./sqldb/... ./redisstore/... ./notify/... ./keystone/... ./policy/...
FUZZTIME  ?= 3000x
# Build information shown by `zaqar-server --version` and logged at start.
VERSION   ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.0.0-dev)
COMMIT    ?= $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null || c=$$c+dirty; echo $$c; })
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Release tarballs: static binaries for these GOOS/GOARCH pairs.
DIST_PLATFORMS ?= linux/amd64 linux/arm64
COMMANDS  := zaqar-server zaqar-bench zaqar-sql-db-manage

.PHONY: all build run test test-unit test-race fuzz bench bench-server lint vet fmt-check clean dist

all: build

build:
	@set -e; for c in $(COMMANDS); do $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/$$c ./cmd/$$c; done

## dist: release tarballs in dist/ (static binaries, sample configuration, systemd unit, docs) and SHA256SUMS
dist:
	@set -e; rm -rf dist; mkdir dist; \
	for p in $(DIST_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; name=zaqar-$(VERSION)-$$os-$$arch; d=dist/$$name; \
	  mkdir -p $$d/bin; \
	  for c in $(COMMANDS); do \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$d/bin/$$c ./cmd/$$c; \
	  done; \
	  cp -r README.md zaqar.conf.sample packaging docs $$d/; \
	  tar -C dist -czf dist/$$name.tar.gz $$name; rm -rf $$d; echo "dist/$$name.tar.gz"; \
	done; \
	cd dist && sha256sum *.tar.gz > SHA256SUMS

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
	rm -rf $(BIN) dist
