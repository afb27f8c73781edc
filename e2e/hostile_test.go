package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// hostileCase is one hostile input and the answer it must get.
type hostileCase struct {
	name string
	run  func(t *testing.T, l *live)
}

// errCode returns the error code of a JSON-RPC reply (0 for a result).
func errCode(t *testing.T, reply string) int {
	t.Helper()
	var m struct {
		Error *struct{ Code int } `json:"error"`
	}
	if err := json.Unmarshal([]byte(reply), &m); err != nil {
		t.Fatalf("reply is not JSON: %q", reply)
	}
	if m.Error == nil {
		return 0
	}
	return m.Error.Code
}

func wantCode(t *testing.T, reply string, code int) {
	t.Helper()
	if got := errCode(t, reply); got != code {
		t.Fatalf("reply %s: code %d, want %d", trunc(reply), got, code)
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

const hostileCap = 64 << 10

var hostileCases = []hostileCase{
	{"message over the size cap", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		r := c.call(`{"jsonrpc":"2.0","id":1,"method":"coord.status","params":{"p":"` + strings.Repeat("x", hostileCap) + `"}}`)
		wantCode(t, r, -32008)
		if !strings.Contains(r, `"id":null`) {
			t.Fatalf("too_large reply should carry id null: %s", r)
		}
		if !c.closedWithin(2 * time.Second) {
			t.Fatal("connection not closed after an oversized message")
		}
	}},
	{"deeply nested JSON", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":2,"method":"issue.get","params":{"id":`+deep+`}}`), -32700)
		// 5,000 levels is within encoding/json's 10,000: decoded, the unknown field ignored
		deepObj := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":3,"method":"issue.get","params":{"id":"x","z":`+deepObj+`}}`), -32001)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":4,"method":"coord.status"}`), 0) // the connection stays
	}},
	{"invalid UTF-8", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		// outside strings: a parse error, the connection stays
		wantCode(t, c.call("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"coord.status\"\xff}"), -32700)
		// in a method name: unknown method
		wantCode(t, c.call("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"coord.\xffstatus\"}"), -32601)
		// in a title: stored with U+FFFD, served and exported as valid UTF-8
		r := c.call("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"issue.create\",\"params\":{\"id\":\"e2e-utf8\",\"title\":\"bad \xff\xfe bytes\"}}")
		wantCode(t, r, 0)
		if !utf8.ValidString(r) || !strings.Contains(r, "bad \ufffd\ufffd bytes") {
			t.Fatalf("invalid UTF-8 title came back as %q", r)
		}
		waitFor(t, 5*time.Second, "export of the issue", func() bool {
			b, _ := os.ReadFile(filepath.Join(l.dir, ".beads", "issues.jsonl"))
			return strings.Contains(string(b), `"e2e-utf8"`)
		})
		b, _ := os.ReadFile(filepath.Join(l.dir, ".beads", "issues.jsonl"))
		if !utf8.Valid(b) {
			t.Fatal("issues.jsonl is not valid UTF-8")
		}
	}},
	{"slow-loris sender", func(t *testing.T, l *live) {
		// one byte every 50ms of a message that never ends: cut at the idle timeout (1s here),
		// which bounds each whole message, not each read
		c := dialRaw(t, "unix", l.sock)
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := `{"jsonrpc":"2.0","id":1,"method":"coord.status","params":{"pad":"` + strings.Repeat("z", 1000)
			for i := 0; i < len(msg); i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write([]byte{msg[i]}); err != nil {
					return
				}
			}
		}()
		closed := c.closedWithin(5 * time.Second)
		close(stop)
		wg.Wait()
		if !closed {
			t.Fatal("a slow-loris sender was not cut off within 5s")
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("cut off after %v, before the idle timeout", d)
		}
	}},
	{"silent connection", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		if !c.closedWithin(5 * time.Second) {
			t.Fatal("a connection that never sends was not closed at the idle timeout")
		}
	}},
	{"half-open message", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		c.send(`{"jsonrpc":"2.0","id":1,"method":"coord.st`) // and nothing more
		if !c.closedWithin(5 * time.Second) {
			t.Fatal("a half-sent message held the connection past the idle timeout")
		}
	}},
	{"subscriber that never reads", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{}}`), 0)
		// From here on it reads nothing while events pile up (pause/resume toggles), and keeps sending
		// (heartbeat notifications, no reply) so the idle timeout never fires: the write deadline or
		// the full queue must cut it off. Its own writes failing is how the test sees that; reading
		// to look for the close would drain the socket and let the server's blocked write finish.
		closed := make(chan error, 1)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write([]byte(`{"jsonrpc":"2.0","method":"heartbeat"}` + "\n")); err != nil {
					closed <- err
					return
				}
			}
		}()
		togglers := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				tc := dialClient(t, "unix", l.sock, "", "toggler-"+itoa(g))
				for {
					select {
					case <-togglers:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					tc.CoordPause(ctx, rpc.PauseParams{})
					tc.CoordResume(ctx, rpc.PauseParams{})
					cancel()
				}
			}(g)
		}
		var err error
		select {
		case err = <-closed:
		case <-time.After(15 * time.Second):
		}
		close(togglers)
		wg.Wait()
		var ne net.Error
		switch {
		case err == nil:
			t.Fatal("a subscriber that never reads was not disconnected within 15 s")
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the subscriber's own write timed out (the server stopped reading it?): %v", err)
		}
	}},
	{"10,000 connections opened and closed", func(t *testing.T, l *live) {
		base := runtime.NumGoroutine()
		var n, helloOK, retries atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < 10000; i += 8 {
					network, addr := "unix", l.sock
					if i%10 == 0 {
						network, addr = "tcp", l.tcp
					}
					var nc net.Conn
					var err error
					for try := 0; try < 50; try++ { // a full accept backlog refuses a Unix connect (EAGAIN)
						if nc, err = net.DialTimeout(network, addr, 5*time.Second); err == nil {
							break
						}
						retries.Add(1)
						time.Sleep(time.Millisecond)
					}
					if err != nil {
						continue
					}
					n.Add(1)
					if i%4 == 0 && network == "unix" { // some say hello first
						nc.SetDeadline(time.Now().Add(5 * time.Second))
						nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"flood","role":"client"}}` + "\n"))
						buf := make([]byte, 512)
						if k, _ := nc.Read(buf); k > 0 && strings.Contains(string(buf[:k]), `"result"`) {
							helloOK.Add(1)
						}
					}
					nc.Close()
				}
			}(g)
		}
		wg.Wait()
		if n.Load() != 10000 {
			t.Fatalf("only %d of 10,000 connections were accepted", n.Load())
		}
		if helloOK.Load() == 0 {
			t.Fatal("no hello served during the flood")
		}
		waitFor(t, 10*time.Second, "connection goroutines to end", func() bool { return runtime.NumGoroutine() <= base+50 })
		t.Logf("FIGURES hostile: 10000 connections (1000 over TCP), %d hellos served, %d dials retried", helloOK.Load(), retries.Load())
	}},
	{"wrong token over TCP", func(t *testing.T, l *live) {
		c := dialRaw(t, "tcp", l.tcp)
		wantCode(t, c.hello("not-the-token"), -32005)
		if !c.closedWithin(2 * time.Second) {
			t.Fatal("connection with a wrong token not closed")
		}
	}},
	{"request before hello", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":1,"method":"issue.list","params":{}}`), -32005)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":2,"method":"complete","params":{"lease_id":"L-1","epoch":1}}`), -32005)
		wantCode(t, c.hello(""), 0) // the connection stays and hello still works
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":3,"method":"coord.status"}`), 0)
	}},
	{"id reused while pending", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"reuse","role":"worker","filters":{"labels":["none-such"]}}}`), 0)
		c.send(`{"jsonrpc":"2.0","id":7,"method":"claim","params":{"wait_ms":400}}` + "\n")
		c.send(`{"jsonrpc":"2.0","id":7,"method":"coord.status"}` + "\n")
		first, second := c.recv(), c.recv()
		if !strings.Contains(first, `"issues"`) || !strings.Contains(second, `"assignment":null`) {
			t.Fatalf("replies to a reused id: %s then %s", trunc(first), trunc(second))
		}
		for _, r := range []string{first, second} {
			if !strings.Contains(r, `"id":7`) {
				t.Fatalf("reply lost its id: %s", r)
			}
		}
	}},
	{"ids that try to leave the workspace", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		for _, id := range []string{"../../etc/passwd", "/etc/passwd", "..", "a/b", `..\..\x`, "x\x00y", strings.Repeat("a", 200)} {
			idj, _ := json.Marshal(id)
			wantCode(t, c.call(`{"jsonrpc":"2.0","id":1,"method":"issue.create","params":{"id":`+string(idj)+`,"title":"escape"}}`), -32602)
			wantCode(t, c.call(`{"jsonrpc":"2.0","id":2,"method":"issue.get","params":{"id":`+string(idj)+`}}`), -32001)
			wantCode(t, c.call(`{"jsonrpc":"2.0","id":3,"method":"issue.comment","params":{"id":`+string(idj)+`,"text":"x"}}`), -32001)
			wantCode(t, c.call(`{"jsonrpc":"2.0","id":4,"method":"issue.label.add","params":{"id":`+string(idj)+`,"label":"x"}}`), -32001)
		}
		// as data (title, label) a path is just text: stored, never used as a path; as a dependency
		// target it names no issue, so it is refused like any unknown id.
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":5,"method":"issue.create","params":{"title":"../../etc/passwd","labels":["../../x"]}}`), 0)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":6,"method":"issue.dep.add","params":{"id":"`+issueID(1)+`","depends_on":"../../etc/passwd"}}`), -32001)
	}},
	{"batch of 1,000 requests, then of 256", func(t *testing.T, l *live) {
		c := dialRaw(t, "unix", l.sock)
		c.hello("")
		batchOf := func(n int) string {
			var b strings.Builder
			b.WriteString("[")
			for i := 0; i < n; i++ {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`{"jsonrpc":"2.0","id":` + itoa(i) + `,"method":"coord.status"}`)
			}
			b.WriteString("]")
			return b.String()
		}
		// over the cap: refused whole, with one error object
		if r := c.call(batchOf(1000)); !strings.HasPrefix(r, "{") || !strings.Contains(r, "-32600") || !strings.Contains(r, "at most 256") {
			t.Fatalf("batch of 1000: %s", trunc(r))
		}
		r := c.call(batchOf(256))
		var replies []struct {
			Result json.RawMessage
			Error  *struct{ Code int }
		}
		if err := json.Unmarshal([]byte(r), &replies); err != nil {
			t.Fatalf("batch reply: %v: %s", err, trunc(r))
		}
		ok, busy := 0, 0
		for _, x := range replies {
			switch {
			case x.Error == nil:
				ok++
			case x.Error.Code == -32009:
				busy++
			default:
				t.Fatalf("batch entry error %d", x.Error.Code)
			}
		}
		if len(replies) != 256 || ok == 0 {
			t.Fatalf("batch: %d replies, %d ok, %d busy", len(replies), ok, busy)
		}
		t.Logf("batch of 256: %d served, %d busy", ok, busy)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":"after","method":"coord.status"}`), 0)
	}},
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestHostileInput sends each hostile input to a live daemon over a real socket and checks its
// answer; after every case a bystander client must still be served, and no file outside the
// workspace's .beads is touched.
func TestHostileInput(t *testing.T) {
	l := startLive(t, 50, func(c *daemon.Config) {
		c.MaxMessageBytes = hostileCap
		c.IdleTimeout = time.Second
		c.WriteTimeout = 300 * time.Millisecond
		c.Token = "e2e-token"
	})
	escaped := []string{filepath.Join(l.dir, ".beads", "../../etc/passwd"), filepath.Join(l.dir, "../etc/passwd"),
		filepath.Join(l.dir, ".beads", "../etc/passwd")}
	for _, p := range escaped {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists before the test; cannot tell whether gtc wrote it", p)
		}
	}
	passwd, err := os.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	by := dialClient(t, "unix", l.sock, "", "bystander")
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			done := make(chan struct{})
			var served, failed atomic.Int64
			go func() { // the bystander keeps calling while the case runs
				for {
					select {
					case <-done:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					if _, err := by.CoordStatus(ctx); err != nil {
						failed.Add(1)
					} else {
						served.Add(1)
					}
					cancel()
					time.Sleep(5 * time.Millisecond)
				}
			}()
			hc.run(t, l)
			// a case can end before the bystander's first call does: let it finish at least one
			for wait := time.Now().Add(5 * time.Second); served.Load()+failed.Load() == 0 && time.Now().Before(wait); {
				time.Sleep(time.Millisecond)
			}
			close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := by.IssueGet(ctx, rpc.IssueGetParams{ID: issueID(0)}); err != nil {
				t.Fatalf("bystander after %q: %v", hc.name, err)
			}
			if failed.Load() > 0 || served.Load() == 0 {
				t.Fatalf("bystander during %q: %d served, %d failed", hc.name, served.Load(), failed.Load())
			}
		})
	}
	// no method reads or writes outside the workspace's .beads
	for _, p := range escaped {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a path-like id reached the file system: %s", p)
		}
	}
	if now, err := os.Stat("/etc/passwd"); err != nil || !now.ModTime().Equal(passwd.ModTime()) || now.Size() != passwd.Size() {
		t.Errorf("/etc/passwd changed")
	}
	filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, filepath.Join(l.dir, ".beads")+"/") {
			t.Errorf("file written outside .beads: %s", p)
		}
		if err == nil && strings.Contains(p, "passwd") {
			t.Errorf("path-like id reached the file system: %s", p)
		}
		return nil
	})
	t.Logf("FIGURES hostile: %d cases", len(hostileCases))
}
