package coord

import (
	"errors"
	"fmt"
)

// Code classifies an Error; each code maps to one JSON-RPC error code (see rpc.ErrorCode and docs/protocol.md).
type Code string

// Error codes shared by the whole server.
const (
	EInvalid        Code = "invalid"         // bad argument; JSON-RPC -32602
	ENotFound       Code = "not_found"       // no such issue, lease, worker or merge request; -32001
	EConflict       Code = "conflict"        // state does not allow it (already claimed, already closed); -32002
	EStaleEpoch     Code = "stale_epoch"     // lease epoch is not the current one; -32003
	ENotHolder      Code = "not_holder"      // caller does not hold the lease; -32004
	EUnauthorized   Code = "unauthorized"    // missing or wrong token, or no hello yet; -32005
	EPaused         Code = "paused"          // coordinator paused; -32006
	EUnavailable    Code = "unavailable"     // storage failing or shutting down; retry later; -32007
	ETooLarge       Code = "too_large"       // message over the size cap; -32008
	EBusy           Code = "busy"            // a limit was reached (connections, queue); -32009
	EInternal       Code = "internal"        // a bug; JSON-RPC -32603
	ENotImplemented Code = "not_implemented" // method known but not built yet; -32010
)

// Error is the one error type of gtc: a code plus a human message saying what to do.
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause, not shown to peers
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for a non-gtc error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// storageFailedMsg is the message of the EUnavailable error a request gets while commits fail.
const storageFailedMsg = "storage failed; retry later"

// StorageFailed reports whether err is the refusal of a request because the storage fails (not a
// shutdown or a caller that gave up).
func StorageFailed(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == EUnavailable && e.Message == storageFailedMsg
}

// ErrorMessage returns the peer-visible message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
