# The README's commands. `make test` is what CI runs (.ci/run).
.PHONY: test demo record bench fuzz

# Formatting, vet (of the benchmarks too), the library's tests, then the end-to-end suite against
# a real control plane (built from the module proxy on first use, about 10 minutes; cached
# after that), all with the race detector.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	go vet ./...
	cd e2e && go vet ./...
	cd bench && go vet ./...
	go test -race -count=1 ./...
	cd e2e && go test -race -count=1 ./testbed/...
	cd e2e && go test -race -count=1 -timeout 30m -v .

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
bench:
	cd bench && go run ./cmd/report -out ../BENCHMARKS.md

# A minute of each fuzz target.
fuzz:
	go test -run '^$$' -fuzz FuzzParseSelf -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzNewRing -fuzztime 60s .
	go test -run '^$$' -fuzz 'FuzzValueCodec$$' -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzValueCodecDecode -fuzztime 60s .
