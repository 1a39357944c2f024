GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test run fuzz bench lint clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tenure ./cmd/tenure
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tenure-load ./cmd/tenure-load

# The README's test command; installs test servers on a fresh Debian machine.
test:
	scripts/test.sh

run: build
	bin/tenure serve --config configs/quickstart.yaml --listen 127.0.0.1:8080

# Every fuzz target in the module for FUZZTIME each, discovered by
# scripts/fuzz.sh (Go runs one target per invocation).
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./store/... ./scim/...
	$(GO) test -run '^$$' -bench JoinerLatency -benchtime 1000x ./engine/

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

clean:
	rm -rf bin
