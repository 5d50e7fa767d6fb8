// Package bench compares github.com/groupcache-k8s/k8s with what its users would pick
// instead, side by side in one run: the peer picker against groupcache's consistenthash
// and HTTPPool, the gRPC transport against HTTPPool, and what N peers cost a process in
// goroutines, heap and open files against HTTPPool; and it measures what the warm hand-off
// adds to a load when its peek misses. It is a module of its own so that the comparison
// libraries never reach the library's users.
//
// Everything is in the _test.go files; `go run ./cmd/report` (or `make bench` in the
// repository's root) runs them and writes BENCHMARKS.md.
package bench
