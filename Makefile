# The README's commands. `make test` is what CI runs (.ci/run).
.PHONY: test lint browser demo record bench fuzz scale

# staticcheck of every module (lint), formatting, vet (of the benchmarks and the Prometheus
# collector too), the library's and the collector's tests, then the end-to-end suite against a
# real control plane (built from the module proxy on first use, about 10 minutes; cached after
# that), all with the race detector.
#
# Each module is tested once, by its own line; ./... in a module stops at the nested modules,
# in the workspace too. Both ends of the dependency versions: the library's tests run with the
# oldest versions its go.mod requires (GOWORK=off: the module alone, as a user's build sees
# it), everything else in the workspace (go.work) with the newest, which the nested modules
# require. The library's tests run once more with Go 1.27, with the newest versions and
# without the race detector (under a minute once built; the first run fetches Go 1.27.3 from
# the module proxy and builds everything, about 5 minutes).
GO_NEXT = go1.27.3
test: browser lint
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	go vet ./...
	cd example && go vet ./...
	cd e2e && go vet ./...
	cd bench && go vet ./...
	cd prometheus && go vet ./...
	$(MAKE) manifest-lint
	GOWORK=off go test -race -count=1 ./...
	GOTOOLCHAIN=$(GO_NEXT) go test -count=1 ./...
	cd example && go test -race -count=1 ./...
	cd prometheus && go test -race -count=1 ./...
	cd e2e && go test -race -count=1 ./testbed/...
	mkdir -p .test-output && cd e2e && go test -race -count=1 -timeout 30m -artifacts -outputdir ../.test-output -v .

# The example manifest through kube-score (a pinned version from the module proxy; built once,
# then cached), for Kubernetes 1.30, the manifest's minimum, with the optional seccomp and
# memory request = limit checks on and warnings counted as failures. The checks the manifest
# declines are named in its kube-score/ignore annotation, each with its reason; the CPU limit
# is left out here (--ignore-container-cpu-limit): the manifest says why it sets none.
# TestExampleManifestDryRun in e2e/ checks the same file against the real API server.
KUBE_SCORE = github.com/zegl/kube-score/cmd/kube-score@v1.20.0
manifest-lint:
	go run $(KUBE_SCORE) score --kubernetes-version v1.30 --exit-one-on-warning --ignore-container-cpu-limit \
		--enable-optional-test container-seccomp-profile --enable-optional-test container-memory-requests-equal-limits \
		example/k8s.yaml

# staticcheck, pinned so that a new release's checks cannot fail a build that passed, run on
# the library and on each nested module (fetched from the module proxy on first use).
STATICCHECK = go run honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(STATICCHECK) ./...
	cd example && $(STATICCHECK) ./...
	cd e2e && $(STATICCHECK) ./...
	cd bench && $(STATICCHECK) ./...
	cd prometheus && $(STATICCHECK) ./...

# Chromium for the e2e test that opens the operator page in a browser: Debian's package,
# installed once (with sudo when not root) if no Chromium is on the PATH.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# Three example pods on a real control plane on this machine: owners, Gets, a scale-up, a kill,
# and a rolling update under load with the warm hand-off and without.
demo:
	cd e2e && go run ./cmd/demo

# Record what the real API server sends into testdata/streams/real_*.txt (about 3 minutes).
record:
	cd e2e && go run ./cmd/record

# The comparison with groupcache's consistenthash and HTTPPool (the nested module bench/):
# six rounds of every benchmark, summarised by benchstat, and the e2e hand-off tests
# (membership changes under load, against HTTPPool fed by WatchPeers), written to BENCHMARKS.md.
# The same rounds run the picker, the remote Get and a local load of the code of BASELINE
# (built from a temporary git worktree, with this code's bench/localload_test.go), and two
# goals ask that this code is no worse beyond noise. BASELINE
# is the commit that last changed BENCHMARKS.md, the code the previous report measured;
# `make bench BASELINE=REV` compares with another commit, `make bench BASELINE=` with none.
BASELINE ?= $(shell git log -1 --format=%H -- BENCHMARKS.md)
bench:
	cd bench && go run ./cmd/report -out ../BENCHMARKS.md -baseline "$(BASELINE)"

# 150 example pods (built without the race detector) on a real control plane on this machine:
# convergence, transient rings, two rolling updates and a scale-down under load with the hand-off,
# the API server's cost per membership change against a Pod informer per pod, and each pod's
# costs, written to SCALE.md (BENCHMARKS.md, which `make bench` writes, links it; neither
# writes the other's file). Not part of `make test`. SCALE_FLAGS="-pods 12
# -max-endpoints-per-slice 5" makes a quick run with several EndpointSlices.
SCALE_FLAGS ?=
scale:
	cd e2e && go run ./cmd/scale -out ../SCALE.md $(SCALE_FLAGS)

# A minute of each fuzz target.
fuzz:
	go test -run '^$$' -fuzz FuzzParseSelf -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzNewRing -fuzztime 60s .
	go test -run '^$$' -fuzz 'FuzzValueCodec$$' -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzValueCodecDecode -fuzztime 60s .
	go test -run '^$$' -fuzz 'FuzzRequestCodec$$' -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzRequestCodecDecode -fuzztime 60s .
