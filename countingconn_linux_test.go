package k8s

// readyReads is whether a TCP connection to a peer offers grpc ReadOnReady here.
const readyReads = true
