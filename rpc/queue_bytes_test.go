package rpc

import (
	"strings"

	"github.com/gastown/gtc/coord"
	"testing"
	"time"
)

func TestPeerOverTheQueuedBytesCapIsDisconnected(t *testing.T) {
	ts := startServer(t, Options{MaxQueuedBytes: 64 << 10, WriteTimeout: time.Minute}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	bystander := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	bystander.helloAs("w2", "")
	// a subscriber that never reads while events pile up past the cap
	p.send(`{"jsonrpc":"2.0","id":1,"method":"events.subscribe"}`)
	time.Sleep(50 * time.Millisecond)
	detail := strings.Repeat("x", 4096)
	for i := 0; i < 400; i++ { // 1.6 MB: more than the socket buffers and the 64 KiB cap, far fewer than 1,024 frames
		ts.Publish(coord.Event{Seq: int64(i), Kind: "assigned", Detail: detail})
	}
	p.expectClosed()
	if r := bystander.call(`{"jsonrpc":"2.0","id":2,"method":"coord.status"}`); !strings.Contains(r, `"result"`) {
		t.Fatalf("bystander not served: %s", r)
	}
}
