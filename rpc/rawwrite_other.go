//go:build !(darwin || linux || openbsd)

package rpc

import (
	"net"
	"syscall"
)

// rawConnOf: no direct writes on this platform; every frame goes through the writer goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func writeRaw(syscall.RawConn, Framing, []byte, bool) (n, size int, err error) {
	return 0, 0, errNotTried
}
