# lookout: the two commands a newcomer needs are `make demo` and `make test`
# (README.md). Everything else here is for developers.

GO ?= go

.PHONY: demo build test test-deps bench soak lint clean

demo:
	$(GO) run ./cmd/lookout demo

build:
	$(GO) build -o bin/lookout ./cmd/lookout

# test installs what the tests need when it is missing (redis-server from
# Debian), then runs every test with the race detector.
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

# test-deps installs, only when missing: redis-server (integration tests),
# Chromium and a CJK font (browser tests and their screenshots), promtool
# and docker-compose (checks of deploy/), and playwright-core (npm, pinned
# in triage/e2e/package-lock.json).
APT_NEEDS = $(if $(shell command -v redis-server),,redis-server) \
	$(if $(wildcard /usr/bin/chromium),,chromium) \
	$(if $(wildcard /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc),,fonts-wqy-zenhei) \
	$(if $(shell command -v promtool),,prometheus) \
	$(if $(shell command -v docker-compose),,docker-compose)

test-deps:
	@if [ -n "$(strip $(APT_NEEDS))" ]; then \
		echo "installing $(strip $(APT_NEEDS)) (needed by the tests)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(APT_NEEDS) >/dev/null; fi
	@test -d triage/e2e/node_modules/playwright-core || (cd triage/e2e && npm ci --silent --no-audit --no-fund)

PEER_DIR ?= $(HOME)/.cache/lookout/peer

# bench times the hot functions (go test -bench), claim and resolve with 50
# volunteers, the whole scorer on one core against the peer pipeline on the
# same posts, and the pipeline end to end (kfake -> scoring -> a real
# redis-server); the figures go to bench/latest.txt.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./classifier/ ./ingest/
	@test -d $(PEER_DIR)/node_modules || { mkdir -p $(PEER_DIR) && cp -r ../shared/bench/peer/. $(PEER_DIR)/ && chmod -R u+w $(PEER_DIR) && (cd $(PEER_DIR) && npm ci --silent); }
	$(GO) test -run '^$$' -bench ClaimResolve -benchtime 2000x ./triage/
	$(GO) test -run '^$$' -bench RecordBatch -benchmem ./triage/
	$(GO) run ./cmd/lookout bench --peer $(PEER_DIR) --e2e --scale --out bench/latest.txt

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

clean:
	rm -rf bin

# soak runs lookout under steady load for 30 minutes with a random fault
# every 2 minutes, then checks recovery, memory and the ledger.
soak: test-deps
	LOOKOUT_SOAK=30m $(GO) test -count=1 -timeout 45m -run TestSoak -v ./cmd/lookout/
