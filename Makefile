# fbtftp-go. `make run` serves the demo root on 127.0.0.1:6969 (no root
# needed); `make test` runs every test (unit, fuzz smoke, end to end);
# `make install`, `make deb` and `make image` ship it (docs/install.md).
GO       ?= go
BIN      ?= bin
FUZZTIME ?= 3000x
FUZZLONG ?= 60s
ADDR         ?= 127.0.0.1:6969
METRICS_ADDR ?= 127.0.0.1:9169
# Linters, pinned; run with `go run`, never linked into anything.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOIMPORTS   ?= golang.org/x/tools/cmd/goimports@v0.52.0

# The version -V, fbtftp_build_info and the package show: `git describe`
# (scripts/version.sh), 0.1.0-dev+gREV in a clone without tags.
VERSION     ?= $(shell scripts/version.sh)
DEB_VERSION ?= $(shell scripts/version.sh --deb)

# Installation layout (GNU conventions). The master finds its workers in
# LIBEXECDIR/fbtftp (also through ../libexec/fbtftp next to it, and next to
# itself), without --worker.
PREFIX         ?= /usr/local
DESTDIR        ?=
SBINDIR        ?= $(PREFIX)/sbin
BINDIR         ?= $(PREFIX)/bin
LIBEXECDIR     ?= $(PREFIX)/libexec
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d

LDFLAGS := -X github.com/fbtftp-go/fbtftp/internal/version.version=$(VERSION) \
	-X main.workerDir=$(LIBEXECDIR)/fbtftp $(EXTRA_LDFLAGS)

# Pinned packaging tools, run with `go run`: never linked into the server.
NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

.PHONY: all build test unit flood fuzz fuzz-long bench run vet clean install uninstall dist man deb image helm-check e2e-reuse test-e2e-reuse test-systemd

all: build

# Static binaries (no cgo): a lean worker, and no_new_privs on every thread.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Zero findings: formatting, imports, go vet, staticcheck and a tidy go.mod.
vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GO) run $(GOIMPORTS) -l -local github.com/fbtftp-go/fbtftp .); if [ -n "$$out" ]; then echo "goimports needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff
	cd tools && (gofmt -l . | (! grep .) || (echo "gofmt needed in tools" && false)) && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# Worker reuse: the end-to-end tests again with --sessions-per-worker 1000
# on every master they start (test/testenv EnvSessionsPerWorker). `make
# test` runs the subset below (real clients, downloads, uploads, errors,
# templates, the HTTP boot storm, a worker killed, the admission queue's
# storm, the live view);
# test-e2e-reuse is the whole suite in that mode.
E2E_REUSE = TestDownloadsOwnClient|TestRealClients|TestErrorsEndToEnd|TestWorkerKilledMidTransfer|TestUploadsEndToEnd|TestDifferential|TestTemplates|TestHTTPOriginCacheBootStorm|TestStorm|TestLiveSessions
e2e-reuse:
	FBTFTP_E2E_SESSIONS_PER_WORKER=1000 $(GO) test -race -count=1 -run '^($(E2E_REUSE))$$' ./test/e2e

test-e2e-reuse:
	FBTFTP_E2E_SESSIONS_PER_WORKER=1000 $(GO) test -race -count=1 ./test/e2e

# The one-address flood (test/hostile TestFlood) loads the machine on
# purpose: it runs alone, after the other tests.
flood:
	FBTFTP_FLOOD_TEST=1 $(GO) test -race -count=1 -run '^TestFlood$$' -v ./test/hostile

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# Every fuzz target for FUZZLONG each (a duration): never part of `make test`.
fuzz-long:
	scripts/fuzz.sh $(FUZZLONG)

test: build vet unit e2e-reuse flood fuzz helm-check

# The Helm chart (deploy/helm): helm's lint and rendering at a pinned
# version, strict decoding into the Kubernetes API types, the rendered
# command line against bin/fbtftp-master. A module of its own.
helm-check: build
	GO=$(GO) FBTFTP_MASTER=$(abspath $(BIN))/fbtftp-master deploy/helm/check/run.sh

# Benchmarks are never part of `make test` (timing is noisy here).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

run: build
	$(BIN)/fbtftp-master -L -a $(ADDR) -s demo/root --worker $(BIN)/fbtftp-worker \
		--prefork 2 --metrics-addr $(METRICS_ADDR) --log-format console

# The man pages are generated from the option table (cmd/fbtftp-master/
# manual.go); a test fails while the committed copies are stale.
man:
	$(GO) test ./cmd/fbtftp-master -run '^TestManPages$$' -update

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/fbtftp $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(BIN)/fbtftp-master $(DESTDIR)$(SBINDIR)/fbtftp-master
	install -m 0755 $(BIN)/fbtftp-top $(DESTDIR)$(BINDIR)/fbtftp-top
	install -m 0755 $(BIN)/fbtftp-worker $(BIN)/fbtftp-worker-http $(DESTDIR)$(LIBEXECDIR)/fbtftp/
	install -m 0644 docs/man/fbtftp-master.8 docs/man/fbtftp-worker.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/fbtftp-top.1 $(DESTDIR)$(MANDIR)/man1/
	for u in fbtftp.service fbtftp.socket; do \
		sed -e 's|/usr/sbin/fbtftp-master|$(SBINDIR)/fbtftp-master|' deploy/systemd/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	install -m 0644 deploy/systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/fbtftp.conf
	install -m 0644 deploy/systemd/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/fbtftp.conf

# What `make install` put there (the same variables).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/fbtftp-master $(DESTDIR)$(BINDIR)/fbtftp-top $(DESTDIR)$(MANDIR)/man1/fbtftp-top.1 \
		$(DESTDIR)$(LIBEXECDIR)/fbtftp/fbtftp-worker \
		$(DESTDIR)$(LIBEXECDIR)/fbtftp/fbtftp-worker-http $(DESTDIR)$(MANDIR)/man8/fbtftp-master.8 \
		$(DESTDIR)$(MANDIR)/man8/fbtftp-worker.8 $(DESTDIR)$(SYSTEMDUNITDIR)/fbtftp.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/fbtftp.socket $(DESTDIR)$(SYSUSERSDIR)/fbtftp.conf $(DESTDIR)$(TMPFILESDIR)/fbtftp.conf
	-rmdir $(DESTDIR)$(LIBEXECDIR)/fbtftp

# A binary tarball: `make install` with PREFIX=/usr/local (stripped),
# unpacked with tar -C / (docs/install.md).
DISTNAME = fbtftp-$(VERSION)-linux-amd64
dist:
	rm -rf $(BIN)/dist
	$(MAKE) install DESTDIR=$(CURDIR)/$(BIN)/dist PREFIX=/usr/local EXTRA_LDFLAGS="-s -w"
	install -d $(BIN)/dist/usr/local/share/doc/fbtftp
	install -m 0644 LICENSE README.md docs/install.md docs/migrating.md $(BIN)/dist/usr/local/share/doc/fbtftp/
	tar -C $(BIN)/dist --owner=0 --group=0 --sort=name -czf $(BIN)/$(DISTNAME).tar.gz usr
	@echo $(BIN)/$(DISTNAME).tar.gz

# The Debian package: the binaries (stripped), pages and units of `make
# install` with PREFIX=/usr, built by a pinned nfpm (deploy/debian/nfpm.yaml).
# The package revision is 1; its changelog is made from the commit.
PKGROOT = $(CURDIR)/$(BIN)/pkgroot
deb:
	rm -rf $(PKGROOT)
	$(MAKE) install DESTDIR=$(PKGROOT) PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system EXTRA_LDFLAGS="-s -w"
	gzip -9nf $(PKGROOT)/usr/share/man/man8/fbtftp-master.8 $(PKGROOT)/usr/share/man/man8/fbtftp-worker.8 \
		$(PKGROOT)/usr/share/man/man1/fbtftp-top.1
	install -d $(PKGROOT)/usr/share/doc/fbtftp
	install -m 0644 deploy/debian/copyright $(PKGROOT)/usr/share/doc/fbtftp/copyright
	printf 'fbtftp (%s-1) unstable; urgency=medium\n\n  * Built from the fbtftp-go source, version %s.\n\n -- The fbtftp-go authors <fbtftp-go@users.noreply.github.com>  %s\n' \
		'$(DEB_VERSION)' '$(VERSION)' "$$(git log -1 --format=%cD 2>/dev/null || date -R)" | gzip -9n > $(PKGROOT)/usr/share/doc/fbtftp/changelog.Debian.gz
	DEB_VERSION=$(DEB_VERSION) $(NFPM) package --config deploy/debian/nfpm.yaml --packager deb --target $(BIN)/

# The package under a real systemd: a Debian 12 container booted with
# systemd-nspawn (socket activation, SIGUSR2 and package upgrades moving
# MainPID, reload, stop). Root, debootstrap and systemd-container; not in
# `make test` (the first run downloads a 200 MB root). scripts/test-systemd.sh.
test-systemd:
	scripts/test-systemd.sh

# The container image (bin/image/image.tar, a docker-archive for podman
# load or docker load, and bin/image/oci, an OCI layout), FROM scratch with
# the stripped static master and workers, built without a daemon by
# tools/imagebuild (go-containerregistry, pinned in tools/go.mod).
image:
	$(MAKE) build BIN=$(BIN)/image-bin PREFIX=/usr EXTRA_LDFLAGS="-s -w"
	cd tools && CGO_ENABLED=0 $(GO) run ./imagebuild -bin ../$(BIN)/image-bin -version $(VERSION) \
		-revision "$$(git rev-parse HEAD 2>/dev/null)" -created "$$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
		-out ../$(BIN)/image

clean:
	rm -rf $(BIN)
