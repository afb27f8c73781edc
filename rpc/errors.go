package rpc

import (
	"encoding/json"
	"errors"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// JSON-RPC error codes used by gtc (docs/protocol.md, "Error codes").
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
)

// codeTable is the ONE mapping between coord error codes and JSON-RPC error codes.
var codeTable = map[coord.Code]int{
	coord.EInvalid:        CodeInvalidParams,
	coord.EInternal:       CodeInternal,
	coord.ENotFound:       -32001,
	coord.EConflict:       -32002,
	coord.EStaleEpoch:     -32003,
	coord.ENotHolder:      -32004,
	coord.EUnauthorized:   -32005,
	coord.EPaused:         -32006,
	coord.EUnavailable:    -32007,
	coord.ETooLarge:       -32008,
	coord.EBusy:           -32009,
	coord.ENotImplemented: -32010,
}

var reverseCodeTable = func() map[int]coord.Code {
	m := make(map[int]coord.Code, len(codeTable))
	for k, v := range codeTable {
		m[v] = k
	}
	m[CodeParseError] = coord.EInvalid
	m[CodeInvalidRequest] = coord.EInvalid
	m[CodeMethodNotFound] = coord.ENotImplemented
	return m
}()

// ErrorCode returns the JSON-RPC error code for a coord error code (-32603 for an unknown one).
func ErrorCode(c coord.Code) int {
	if n, ok := codeTable[c]; ok {
		return n
	}
	return CodeInternal
}

// CoordCode returns the coord error code for a JSON-RPC error code (coord.EInternal for an unknown one).
func CoordCode(n int) coord.Code {
	if c, ok := reverseCodeTable[n]; ok {
		return c
	}
	return coord.EInternal
}

// wireError is a JSON-RPC error object as sent on the wire.
type wireError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error implements error.
func (e *wireError) Error() string { return e.Message }

func newWireError(code int, msg string) *wireError { return &wireError{Code: code, Message: msg} }

// toWireError converts any handler error to its JSON-RPC form; application errors carry
// data {"code": "<name>"}. The cause of a coord.Error is never shown to the peer.
func toWireError(err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	c := coord.ErrorCode(err)
	w := &wireError{Code: ErrorCode(c), Message: coord.ErrorMessage(err)}
	if w.Code <= -32001 && w.Code >= -32099 {
		w.Data = json.RawMessage(`{"code":"` + string(c) + `"}`)
	}
	return w
}

// fromRPCError converts an error reply received by the Client into a *coord.Error.
func fromRPCError(err error) error {
	var je *jsonrpc2.Error
	if !errors.As(err, &je) {
		return err
	}
	code := CoordCode(int(je.Code))
	if je.Data != nil {
		var d struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(*je.Data, &d) == nil && d.Code != "" {
			code = coord.Code(d.Code)
		}
	}
	return &coord.Error{Code: code, Message: je.Message, Err: err}
}
