package rpc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestClientReadsTheRefusalThatClosesItsConnection: the server answers a connection it will not
// serve with an error whose id is null — -32009 over MaxConns, -32008 for a message over the size
// cap — and closes it. The Go client dropped that reply (no call has id null) and reported its
// calls' end as "connection closed", which gtc's CLI and worker print as "the coordinator closed the
// connection: is it shutting down?": an operator at --max-conns was sent looking for a stopping server.
func TestClientReadsTheRefusalThatClosesItsConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		call func(context.Context, *Client) error
		want coord.Code
		msg  string
	}{
		{"over MaxConns", Options{MaxConns: 1},
			func(ctx context.Context, c *Client) error {
				_, err := c.Hello(ctx, HelloParams{Name: "w2"})
				return err
			}, coord.EBusy, "too many connections"},
		{"over the size cap", Options{MaxMessageBytes: 4096},
			func(ctx context.Context, c *Client) error {
				if _, err := c.Hello(ctx, HelloParams{Name: "w2", Role: "client"}); err != nil {
					return err
				}
				_, err := c.IssueCreate(ctx, IssueCreateParams{Title: strings.Repeat("x", 8192)})
				return err
			}, coord.ETooLarge, "size cap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.opts, nil)
			first := dialRaw(t, "unix", ts.unixPath, FramingNDJSON) // holds the only slot of MaxConns 1
			first.hello("")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, DialOptions{Network: "unix", Addr: ts.unixPath})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = tc.call(ctx, c)
			if coord.ErrorCode(err) != tc.want || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v (%s), want %s: %q", err, coord.ErrorCode(err), tc.want, tc.msg)
			}
			// the connection is gone: a later call gives the same reason
			<-c.Done()
			if err := tc.call(ctx, c); coord.ErrorCode(err) != tc.want {
				t.Fatalf("call after the refusal: %v", err)
			}
		})
	}
}
