package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/daemon"
)

// TestTCPAndHTTPNeedTheToken checks that TCP and HTTP peers without the right token are refused.
func TestTCPAndHTTPNeedTheToken(t *testing.T) {
	l := startLive(t, 5, func(c *daemon.Config) { c.Token = "e2e-right-token" })
	t.Run("tcp no token", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":1,"method":"coord.status"}`), -32005)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":2,"method":"hello","params":{"name":"x","role":"client"}}`), -32005)
		if !c.closedWithin(2 * time.Second) {
			t.Fatal("not closed after a hello without token")
		}
	})
	t.Run("tcp wrong token, then the right one on the same connection", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		wantCode(t, c.hello("e2e-right-toke"), -32005)
		c.send(`{"jsonrpc":"2.0","id":"h2","method":"hello","params":{"name":"x","role":"client","token":"e2e-right-token"}}` + "\n")
		if r := c.recv(); errCode(t, r) != -32005 {
			t.Fatalf("second try on a connection that failed: %s", r)
		}
		if !c.closedWithin(2 * time.Second) {
			t.Fatal("not closed after a wrong token")
		}
	})
	t.Run("tcp near-miss tokens", func(t *testing.T) {
		for _, tok := range []string{"e2e-right-toke", "e2e-right-token ", "E2E-RIGHT-TOKEN", "e2e-right-tokenX", strings.Repeat("e", 10000)} {
			c := dialRaw(t, "tcp", l.tcp)
			wantCode(t, c.hello(tok), -32005)
		}
	})
	t.Run("tcp right token", func(t *testing.T) {
		c := dialRaw(t, "tcp", l.tcp)
		wantCode(t, c.hello("e2e-right-token"), 0)
		wantCode(t, c.call(`{"jsonrpc":"2.0","id":1,"method":"coord.status"}`), 0)
	})
	t.Run("http", func(t *testing.T) {
		body := `{"jsonrpc":"2.0","id":1,"method":"coord.status"}`
		for _, tc := range []struct {
			auth string
			want int
		}{{"", 401}, {"Bearer", 401}, {"Bearer wrong", 401}, {"Basic e2e-right-token", 401}, {"Bearer e2e-right-token", 200}} {
			req, _ := http.NewRequest("POST", "http://"+l.http+"/rpc", strings.NewReader(body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("Authorization %q: status %d, want %d", tc.auth, resp.StatusCode, tc.want)
			}
		}
	})
}

// TestFileModes checks the socket and the token file are 0600, and that a token file readable by
// others is narrowed on start.
func TestFileModes(t *testing.T) {
	dir := shortDir(t)
	writeWorkspace(t, dir, 5, 1)
	tokPath := filepath.Join(dir, ".beads", "gtc.token")
	if err := os.WriteFile(tokPath, []byte("e2e-loose-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLive(t, dir, 5, nil)
	if l.token != "e2e-loose-token" {
		t.Fatalf("token %q not loaded from the file", l.token)
	}
	mode := func(p string) fs.FileMode {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode()
	}
	if m := mode(l.sock); m&fs.ModeSocket == 0 || m.Perm() != 0o600 {
		t.Fatalf("socket %s mode %v, want 0600", l.sock, m)
	}
	if m := mode(tokPath); m.Perm() != 0o600 {
		t.Fatalf("token file mode %v after start, want 0600", m)
	}
	l.stop()

	// a fresh token file is created 0600
	dir2 := shortDir(t)
	writeWorkspace(t, dir2, 5, 1)
	l2 := openLive(t, dir2, 5, nil)
	if m := mode(filepath.Join(dir2, ".beads", "gtc.token")); m.Perm() != 0o600 || len(l2.token) != 64 {
		t.Fatalf("new token file mode %v, token length %d", m, len(l2.token))
	}
	t.Logf("gtc.db mode %v (umask %s; not narrowed by gtc)", mode(filepath.Join(dir2, ".beads", "gtc.db")).Perm(), "default")
}

// TestTokenCompareIsConstantTime reads package rpc's source: the token check must go through
// crypto/subtle, and no == or != may touch a token.
func TestTokenCompareIsConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../rpc", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	subtleCalls := 0
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConstantTimeCompare" {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "subtle" {
							subtleCalls++
						}
					}
				case *ast.BinaryExpr:
					if x.Op != token.EQL && x.Op != token.NEQ {
						return true
					}
					for _, side := range []ast.Expr{x.X, x.Y} {
						if mentionsToken(side) && !isEmptyString(x.X) && !isEmptyString(x.Y) {
							t.Errorf("%s: token compared with %s", fset.Position(x.Pos()), x.Op)
						}
					}
				}
				return true
			})
		}
	}
	if subtleCalls == 0 {
		t.Fatal("package rpc never calls subtle.ConstantTimeCompare")
	}
}

// mentionsToken reports whether e names a token (tok, token, .Token).
func mentionsToken(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		n := strings.ToLower(x.Name)
		return n == "tok" || n == "token"
	case *ast.SelectorExpr:
		return x.Sel.Name == "Token"
	case *ast.CallExpr:
		for _, a := range x.Args {
			if mentionsToken(a) {
				return true
			}
		}
	}
	return false
}

func isEmptyString(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.STRING && (b.Value == `""` || b.Value == "``")
}
