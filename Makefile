# vem: make demo runs the embedded demo, make test passes the tests.
GO ?= go
BIN := bin
GOFLAGS_TEST ?=

.PHONY: all build generate check-generated test unit e2e fuzz bench demo vet lint clean

all: build

# The version stamped into vem-agent (vem-agent --version), naming its
# bundle and its install directory. A release sets it: make bundle
# VERSION=1.3.0 UPGRADES_FROM=1.2.0 DOWNGRADES_TO=1.2.0.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION := $(VERSION)
UPGRADES_FROM ?=
DOWNGRADES_TO ?=

# vem-hook is static: libvirt runs it for every domain operation, and a
# dynamically linked start costs about a millisecond more.
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/vem-agent ./cmd/vem-agent
	$(GO) build -o $(BIN)/vemctl ./cmd/vemctl
	$(GO) build -o $(BIN)/vsm ./cmd/vsm
	CGO_ENABLED=0 $(GO) build -o $(BIN)/vem-hook ./cmd/vem-hook

# The libvirt event watcher is cgo against libvirt: its own target, so that
# building the agent (and make demo) needs no libvirt on the machine.
.PHONY: build-libvirt
build-libvirt:
	scripts/deps.sh libvirt
	$(GO) build -o $(BIN)/vem-libvirt ./cmd/vem-libvirt

# Rebuild the eBPF objects and their Go bindings from bpf/src (needs clang),
# and the protocol's Go code from protocol/vem.proto (needs protoc).
generate:
	scripts/deps.sh generate
	$(GO) generate ./bpf/
	$(GO) generate ./protocol/

vet:
	$(GO) vet ./...

# gofmt, go vet and staticcheck (a tool of go.mod: no install step).
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Everything: unit tests, datapath tests through BPF_PROG_TEST_RUN and the
# end-to-end tests on namespace topologies (root; CI runs as root).
# The summary names every skipped test with its reason and prints every
# failed test's whole output; a package line counts what ran. bash, for
# pipefail: the pipe must fail when go test does.
test: SHELL := /bin/bash
test:
	scripts/deps.sh test
	$(MAKE) build build-libvirt lint
	$(GO) build -o $(BIN)/testsum ./test/testsum
	set -o pipefail; $(GO) test -json -count=1 -timeout 15m $(GOFLAGS_TEST) ./... | $(BIN)/testsum

# Short fuzzing of every parser of untrusted input.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=30s ./spec/
	$(GO) test -run='^$$' -fuzz='^FuzzParseAddress$$' -fuzztime=30s ./spec/
	$(GO) test -run='^$$' -fuzz='^FuzzParsePairPrefix$$' -fuzztime=30s ./spec/
	$(GO) test -run='^$$' -fuzz='^FuzzUnmarshal$$' -fuzztime=30s ./lacp/
	$(GO) test -run='^$$' -fuzz='^FuzzMarker$$' -fuzztime=30s ./lacp/
	$(GO) test -run='^$$' -fuzz='^FuzzAttach$$' -fuzztime=30s ./agent/api/
	$(GO) test -run='^$$' -fuzz='^FuzzAnnounce$$' -fuzztime=30s ./agent/api/
	$(GO) test -run='^$$' -fuzz='^FuzzHandoverRecv$$' -fuzztime=30s ./agent/api/
	$(GO) test -run='^$$' -fuzz='^FuzzParseLinkLocal$$' -fuzztime=30s ./bpf/
	$(GO) test -run='^$$' -fuzz='^FuzzEnvelope$$' -fuzztime=30s ./protocol/
	$(GO) test -run='^$$' -fuzz='^FuzzReassemble$$' -fuzztime=30s ./protocol/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeNetwork$$' -fuzztime=30s ./protocol/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSnapshot$$' -fuzztime=30s ./protocol/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeNetwork$$' -fuzztime=30s ./vsm/netdef/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=30s ./vsm/config/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeHeartbeat$$' -fuzztime=30s ./vsm/pair/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSyncRequest$$' -fuzztime=30s ./vsm/pair/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeCheckpoint$$' -fuzztime=30s ./headless/
	$(GO) test -run='^$$' -fuzz='^FuzzParseDomain$$' -fuzztime=30s ./agent/hook/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeUpdate$$' -fuzztime=30s ./agent/ovsport/
	$(GO) test -run='^$$' -fuzz='^FuzzParseManifest$$' -fuzztime=30s ./agent/issu/bundle/

bench: build
	scripts/deps.sh bench
	$(GO) test -run='^$$' -bench=. -benchtime=200000x ./bpf/
	$(GO) test -count=1 -run='^TestUplinkSpread$$' -v ./bpf/
	$(GO) run ./test/bench -agent $(BIN)/vem-agent
	$(GO) run ./test/bench -vxlan -agent $(BIN)/vem-agent -rounds 5 -duration 5s
	$(GO) run ./test/bench -portchannel -agent $(BIN)/vem-agent

# The libvirt qemu hook (libvirtd only looks for hooks when it starts:
# restart it after the first install). DESTDIR for packaging.
.PHONY: install-hook
install-hook: build
	install -D -m 0755 $(BIN)/vem-hook $(DESTDIR)/etc/libvirt/hooks/qemu

demo: build
	scripts/deps.sh run
	$(GO) run ./test/demo -agent $(BIN)/vem-agent -vemctl $(BIN)/vemctl

clean:
	rm -rf $(BIN)

# The upgrade bundle of this build: $(BIN)/bundle-$(VERSION)/ with vem-agent
# and manifest.json (version and protocol as vem-agent --version says, the
# version floors, sha256 of every file). vem-agent upgrade installs and
# runs it; make install installs it too.
.PHONY: bundle
bundle: build
	$(GO) build -o $(BIN)/mkbundle ./agent/issu/bundle/mkbundle
	rm -rf $(BIN)/bundle-$(VERSION)
	$(BIN)/mkbundle -agent $(BIN)/vem-agent -out $(BIN)/bundle-$(VERSION) \
		$(if $(UPGRADES_FROM),-upgrades-from $(UPGRADES_FROM)) $(if $(DOWNGRADES_TO),-downgrades-to $(DOWNGRADES_TO))

# The systemd path (deploy/): binaries, units, the docs the units name and,
# unless one is there already, an example /etc/vem/vem.yaml. DESTDIR stages
# the tree (packaging); PREFIX=/usr puts the units in /lib/systemd/system.
# The libvirt hook comes with it (install-hook). Then: systemctl enable --now
# vem-agent, and restart libvirtd once so that it finds the hook.
# The agent's versions live side by side in $(VEMROOT)/<version>/ (the
# bundle), $(VEMROOT)/current names the one the unit starts, and
# $(BINDIR)/vem-agent links to it: install copies this build's bundle there
# and makes it current (a version installed already must be the same build:
# set VERSION for another).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DOCDIR ?= $(PREFIX)/share/doc/vem
SYSCONFDIR ?= /etc
VEMROOT ?= /usr/lib/vem
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
UNIT_PATHS = sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/vem/|$(DOCDIR)/|g' -e 's|/etc/vem/|$(SYSCONFDIR)/vem/|g' -e 's|/etc/vsm/|$(SYSCONFDIR)/vsm/|g' -e 's|/usr/lib/vem/|$(VEMROOT)/|g'

.PHONY: install uninstall
install: bundle install-hook
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/vem
	$(BIN)/mkbundle -install $(BIN)/bundle-$(VERSION) -root $(DESTDIR)$(VEMROOT) -promote
	ln -sfn $(VEMROOT)/current/vem-agent $(DESTDIR)$(BINDIR)/vem-agent
	install -m 0755 $(BIN)/vemctl $(BIN)/vsm $(DESTDIR)$(BINDIR)/
	$(UNIT_PATHS) deploy/systemd/vem-agent.service > $(DESTDIR)$(UNITDIR)/vem-agent.service
	$(UNIT_PATHS) deploy/systemd/vsm.service > $(DESTDIR)$(UNITDIR)/vsm.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vem-agent.service $(DESTDIR)$(UNITDIR)/vsm.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	[ -e $(DESTDIR)$(SYSCONFDIR)/vem/vem.yaml ] || install -m 0644 deploy/vem.yaml.example $(DESTDIR)$(SYSCONFDIR)/vem/vem.yaml
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# Removes what install put there (every installed version of the agent
# too) but the configuration (/etc/vem) and the state (/var/lib/vem); stops
# nothing: the datapath of a running agent keeps forwarding until
# `vem-agent --uninstall`.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vem-agent $(DESTDIR)$(BINDIR)/vemctl $(DESTDIR)$(BINDIR)/vsm
	rm -rf $(DESTDIR)$(VEMROOT)
	rm -f $(DESTDIR)$(UNITDIR)/vem-agent.service $(DESTDIR)$(UNITDIR)/vsm.service
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)/etc/libvirt/hooks/qemu
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# The libvirt event watcher (cgo: build-libvirt installs libvirt-dev) and
# its unit, ordered after the agent and libvirtd. Then: systemctl enable
# --now vem-libvirt.
.PHONY: install-libvirt uninstall-libvirt
install-libvirt: build-libvirt
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN)/vem-libvirt $(DESTDIR)$(BINDIR)/
	$(UNIT_PATHS) deploy/systemd/vem-libvirt.service > $(DESTDIR)$(UNITDIR)/vem-libvirt.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vem-libvirt.service
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

uninstall-libvirt:
	rm -f $(DESTDIR)$(BINDIR)/vem-libvirt $(DESTDIR)$(UNITDIR)/vem-libvirt.service
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
