# The README's commands. `make test` is what CI runs (.ci/run).
.PHONY: test bench fuzz

# Formatting, vet, and every test with the race detector.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	go vet ./...
	go test -race -count=1 ./...

# Picker benchmarks against groupcache/consistenthash, summarised by benchstat.
bench:
	go test -run '^$$' -bench 'PickPeer|Rebuild' -benchmem -count 6 -benchtime 300ms . | tee bench.out
	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl bench.out

# A minute of each fuzz target.
fuzz:
	go test -run '^$$' -fuzz FuzzParseSelf -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzNewRing -fuzztime 60s .
