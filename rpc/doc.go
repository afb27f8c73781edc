// Package rpc is gtc's JSON-RPC 2.0 transport: a Server over Unix sockets, TCP and HTTP that reads,
// checks (spec, limits, authentication) and answers messages itself, and the Go Client used by the
// CLI, the reference worker and the load-test tool, built on sourcegraph/jsonrpc2.
// docs/protocol.md is the wire contract.
package rpc
