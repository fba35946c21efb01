# mxsensor: `make help` lists the targets.
GO        ?= go
BIN       ?= bin/mxsensor
PREFIX    ?= /usr/local
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GENERATED := internal/dataplane/mxsensor_bpfel.go internal/dataplane/mxsensor_bpfel.o \
	internal/xdpbench/baselines_bpfel.go internal/xdpbench/baselines_bpfel.o
# Debian packages: clang/llvm/libbpf-dev rebuild the BPF object; iproute2 runs
# commands inside the test namespaces; p0f is the fingerprint oracle; rbldnsd
# serves the DNSBL zone of the enrichment tests; hping3 floods the live agent;
# postfix (postmap) and nftables (nft -c) check the blocklist exports; rspamd
# writes the results the reject-log parser reads; systemd (systemd-analyze)
# measures the units' exposure and expands their system call filters, and
# linux-libc-dev has the system call table the hardened-agent test applies
# them with.
APT_BUILD := clang llvm libbpf-dev
# The test hosts of the end-to-end test (e2e/) are part of `make test` too.
APT_TEST  := iproute2 p0f rbldnsd chromium postfix swaks dnsmasq-base perl hping3 nftables rspamd systemd linux-libc-dev

export CGO_ENABLED ?= 0

.PHONY: bench help build generate check-generate deps-build deps-test test test-unit fuzz fuzz-long bench-fingerprint assoc-table assoc-dev fleet-table fleet-sim install clean demo lab-fleet e2e

help: ## show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/mxsensor (pure Go, static; no clang needed)
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/mxsensor

deps-build: ## install clang, llvm and libbpf-dev from Debian (needs root)
	@missing=""; for p in $(APT_BUILD); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

deps-test: ## install what the tests run (iproute2, p0f, rbldnsd, chromium, postfix, swaks, dnsmasq-base, hping3, nftables, rspamd, systemd, linux-libc-dev) from Debian (needs root)
	@missing=""; for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

generate: deps-build ## rebuild the BPF object and its Go bindings with bpf2go (Debian clang)
	cd internal/dataplane && $(GO) generate ./...
	cd internal/xdpbench && $(GO) generate ./...

check-generate: generate ## fail if the committed BPF object or bindings differ from a fresh build
	@git diff --exit-code -- $(GENERATED) || { echo "generated BPF files are stale: run 'make generate' and commit them"; exit 1; }

test-unit: ## run the Go tests (root-only tests skip outside CI)
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test: deps-test check-generate test-unit ## everything CI runs: regenerate-and-diff, vet, all tests

fuzz: ## coverage-guided fuzzing of the kernel program against the Go reference (FUZZTIME, default 60s)
	$(GO) test -run XXX -fuzz FuzzDifferential -fuzztime $(or $(FUZZTIME),60s) ./internal/dataplane/

# FUZZ_STATE keeps the run's seed and the batches done: an interrupted or
# timed-out run resumes where it stopped; a finished one starts anew.
fuzz-long: ## the kernel program against the Go reference on FRAMES (10 M) generated and mutated frames, at most FUZZTIME (30m) a go, resumable (FUZZ_STATE, default bin/fuzz-long.json; needs root)
	@[ "$$(id -u)" = 0 ] || { echo "make fuzz-long needs root: it loads the XDP program"; exit 1; }
	@mkdir -p bin
	MXS_FUZZ_LONG_FRAMES=$(or $(FRAMES),10000000) MXS_FUZZ_LONG_TIME=$(or $(FUZZTIME),30m) \
	MXS_FUZZ_LONG_STATE=$(abspath $(or $(FUZZ_STATE),bin/fuzz-long.json)) \
	$(GO) test -count=1 -v -timeout 0 -run 'TestDifferentialLong$$' ./internal/dataplane/

bench-fingerprint: build ## time `mxsensor fingerprint` beside `p0f -r` on one generated capture (N SYNs, default 300000)
	@command -v p0f >/dev/null || $(MAKE) deps-test
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(GO) run ./tools/gensyns -n $(or $(N),300000) -o $$tmp/mix.pcap; \
	$(GO) test -run XXX -bench 'BenchmarkMatch$$' -benchmem ./internal/fingerprint | grep Benchmark; \
	for i in 1 2 3; do \
	  /usr/bin/time -f "p0f -r:               %e s elapsed, %U s user, %M KB max RSS" p0f -r $$tmp/mix.pcap -o $$tmp/p0f.log >/dev/null; rm -f $$tmp/p0f.log; \
	  /usr/bin/time -f "mxsensor fingerprint: %e s elapsed, %U s user, %M KB max RSS" $(BIN) fingerprint --pcap $$tmp/mix.pcap --json >/dev/null; \
	done

assoc-table: ## measure association accuracy on generated scenarios: issue 5's rows, the scenario families (dev and held-out seeds, naive beside full), the ablation (tables of docs/association.md; ~18 min)
	tools/assoc-table.sh

assoc-dev: build ## the engine-tuning loop: dev seeds of the dense families, one line per scenario (scenarios kept in /tmp/assoc-dev)
	tools/assoc-dev.sh $(BIN)

fleet-table: ## the fleet list beside the union of the sensors' own lists on generated multi-sensor scenarios, two seeds held out (table of docs/fleet.md; ~5 min)
	tools/fleet-table.sh

fleet-sim: build ## K generated sensors publishing into one embedded server and a collector: the figures docs/fleet.md sizes a fleet from (SENSORS=20, DURATION=6h)
	$(GO) run ./tools/fleetsim -bin $(BIN) -sensors $(or $(SENSORS),20) -duration $(or $(DURATION),6h)

demo: ## the sensor live in a throw-away lab of network namespaces (needs root; DURATION=20s, ARGS="--xdp-mode native ...")
	@[ "$$(id -u)" = 0 ] || { echo "make demo needs root: it creates network namespaces and loads an XDP program"; exit 1; }
	@missing=""; for p in iproute2; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@if [ ! -x $(BIN) ] || [ -n "$$(find cmd internal bpf go.mod -newer $(BIN) -type f -print -quit)" ]; then $(MAKE) build; fi
	$(BIN) lab $(if $(DURATION),--duration $(DURATION)) $(ARGS)

lab-fleet: ## a network of sensors in the lab: 3 sensors publishing to a collector, the fleet report, a DNSBL of the shared list (needs root; DURATION, ARGS as demo)
	@$(MAKE) --no-print-directory demo ARGS="--sensors 3 $(ARGS)"

# make e2e: the programs of the end-to-end test's hosts (also in APT_TEST).
# dnsmasq-base is the binary without the system service (which would take the
# machine's port 53); postfix is preseeded to "No configuration" so that no
# system Postfix starts.
APT_E2E := iproute2 postfix swaks dnsmasq-base rbldnsd perl

e2e: ## the whole experiment end to end in throw-away namespaces: DNS, DNSBL, Postfix, senders, the sensor (needs root; installs APT_E2E)
	@[ "$$(id -u)" = 0 ] || { echo "make e2e needs root: it creates network namespaces, runs Postfix and loads an XDP program"; exit 1; }
	@missing=""; for p in $(APT_E2E); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	$(GO) test -count=1 -v -timeout 10m -run TestE2E ./e2e

bench: ## benchmarks (issues 9 and 19): XDP vs baselines, ring drain, pipeline, analyze vs p0f, live flood; prints one table and writes docs/benchmarks.md (needs root)
	@[ "$$(id -u)" = 0 ] || { echo "make bench needs root: it loads XDP programs and builds network namespaces"; exit 1; }
	@$(MAKE) --no-print-directory build
	@command -v p0f >/dev/null || $(MAKE) deps-test
	$(GO) run ./tools/benchreport -go $(GO) -bin $(BIN) -doc docs/benchmarks.md

install: build ## install the binary to $(PREFIX)/bin, the systemd unit and an example configuration
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mxsensor
	@# The units name the binary where PREFIX put it.
	for u in mxsensor mxsensor-collect; do \
	  sed 's#/usr/local/bin/mxsensor#$(PREFIX)/bin/mxsensor#g' packaging/$$u.service | \
	    install -D -m 0644 /dev/stdin $(DESTDIR)/etc/systemd/system/$$u.service || exit 1; \
	done
	install -D -m 0644 docs/mxsensor.example.yaml $(DESTDIR)/etc/mxsensor/mxsensor.yaml.example

clean: ## remove build output
	rm -rf bin
