// Package rpc is gtc's JSON-RPC 2.0 transport: a Server over Unix sockets, TCP and HTTP that puts
// spec checks, limits and authentication in front of sourcegraph/jsonrpc2, and the Go Client used
// by the CLI, the reference worker and the load-test tool. docs/protocol.md is the wire contract.
package rpc
