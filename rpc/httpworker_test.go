package rpc

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPWorkerMethodsRefused: over HTTP the worker name is only a header anyone with the token can
// set, so the methods acting on a worker's leases or merge slots answer -32010 (even naming a worker
// connected on a socket), while reads still work; the Bearer scheme is matched case-insensitively.
func TestHTTPWorkerMethodsRefused(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	url := newHTTPTestServer(t, ts.HTTPHandler())
	post := func(auth, worker, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url+"/rpc", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		if worker != "" {
			req.Header.Set("X-Gtc-Worker", worker)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"claim","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"heartbeat","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"complete","params":{"lease_id":"L-1","epoch":7,"outcome":"success"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"fail","params":{"lease_id":"L-1","epoch":7}}`,
		`{"jsonrpc":"2.0","id":1,"method":"release","params":{"lease_id":"L-1","epoch":7}}`,
		`{"jsonrpc":"2.0","id":1,"method":"merge.report","params":{"id":"MR-1","epoch":1,"merged":true}}`,
	} {
		if code, body := post("Bearer "+testToken, "w1", m); code != 200 || !strings.Contains(body, "-32010") {
			t.Errorf("%s over HTTP as w1: %d %s, want -32010", m, code, body)
		}
	}
	if code, body := post("bearer "+testToken, "", `{"jsonrpc":"2.0","id":1,"method":"issue.get","params":{"id":"bd-9"}}`); code != 200 || !strings.Contains(body, `"result"`) {
		t.Errorf("issue.get with a lowercase bearer scheme: %d %s", code, body)
	}
	if code, _ := post("Basic "+testToken, "", `{"jsonrpc":"2.0","id":1,"method":"issue.get","params":{"id":"bd-9"}}`); code != http.StatusUnauthorized {
		t.Errorf("another scheme: %d, want 401", code)
	}
	// the header names the caller as hello's name does, with hello's rule (a trial: 6,000 bytes were taken)
	get := `{"jsonrpc":"2.0","id":1,"method":"issue.get","params":{"id":"bd-9"}}`
	if code, body := post("Bearer "+testToken, strings.Repeat("w", MaxNameBytes+1), get); code != http.StatusBadRequest || !strings.Contains(body, "-32602") || !strings.Contains(body, "X-Gtc-Worker") {
		t.Errorf("a %d-byte X-Gtc-Worker: %d %s, want 400 with -32602 naming the header", MaxNameBytes+1, code, body)
	}
	if code, body := post("Bearer "+testToken, strings.Repeat("w", MaxNameBytes), get); code != 200 || !strings.Contains(body, `"result"`) {
		t.Errorf("a %d-byte X-Gtc-Worker: %d %s, want the result", MaxNameBytes, code, body)
	}
}
