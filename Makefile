# fbtftp-go. `make run` serves the demo root on 127.0.0.1:6969 (no root
# needed); `make test` runs every test (unit, fuzz smoke, end to end).
GO       ?= go
BIN      ?= bin
FUZZTIME ?= 3000x
ADDR     ?= 127.0.0.1:6969

.PHONY: all build test unit fuzz bench run vet clean

all: build

# Static binaries (no cgo): a lean worker, and no_new_privs on every thread.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

vet:
	gofmt -l . | (! grep .) || (echo "gofmt needed" && false)
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

test: build vet unit fuzz

# Benchmarks are never part of `make test` (timing is noisy here).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

run: build
	$(BIN)/fbtftp-master -L -a $(ADDR) -s demo/root --worker $(BIN)/fbtftp-worker \
		--prefork 2 --metrics-addr 127.0.0.1:9169 --log-format console

clean:
	rm -rf $(BIN)
