package rpc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// kindScan resolves the string values an expression of coord's sources can take, following constants,
// local assignments and, for a parameter, the arguments of every call of its function in the package.
type kindScan struct {
	t      *testing.T
	fset   *token.FileSet
	consts map[string]string     // string constants: "pkg.Name" and pkg+"\x00"+Name → value
	calls  map[string][]callSite // pkg+"\x00"+name → calls of that name
	seen   map[string]bool       // function parameters being resolved (recursion guard)
}

type callSite struct {
	call *ast.CallExpr
	fn   *ast.FuncDecl
}

func (k *kindScan) resolve(pkg string, fn *ast.FuncDecl, e ast.Expr) []string {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, _ := strconv.Unquote(x.Value)
			return []string{s}
		}
	case *ast.SelectorExpr:
		if p, ok := x.X.(*ast.Ident); ok {
			if v, ok := k.consts[p.Name+"."+x.Sel.Name]; ok {
				return []string{v}
			}
		}
	case *ast.Ident:
		if v, ok := k.consts[pkg+"\x00"+x.Name]; ok {
			return []string{v}
		}
		if fn != nil {
			if i := paramIndex(fn, x.Name); i >= 0 {
				key := pkg + "\x00" + fn.Name.Name + "\x00" + x.Name
				if k.seen[key] {
					return nil
				}
				k.seen[key] = true
				defer delete(k.seen, key)
				var out []string
				for _, cs := range k.calls[pkg+"\x00"+fn.Name.Name] {
					if i < len(cs.call.Args) {
						out = append(out, k.resolve(pkg, cs.fn, cs.call.Args[i])...)
					}
				}
				return out
			}
			var out []string
			found := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
					for j, l := range as.Lhs {
						if id, ok := l.(*ast.Ident); ok && id.Name == x.Name {
							found = true
							out = append(out, k.resolve(pkg, fn, as.Rhs[j])...)
						}
					}
				}
				return true
			})
			if found {
				return out
			}
		}
	}
	k.t.Errorf("%s: cannot tell which event kind %s is: teach TestEventKindsMatchCoord this form", k.fset.Position(e.Pos()), describe(e))
	return nil
}

// describe names an expression the scan cannot resolve.
func describe(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return "identifier " + id.Name
	}
	return fmt.Sprintf("%T", e)
}

func paramIndex(fn *ast.FuncDecl, name string) int {
	i := 0
	for _, f := range fn.Type.Params.List {
		for _, n := range f.Names {
			if n.Name == name {
				return i
			}
			i++
		}
		if len(f.Names) == 0 {
			i++
		}
	}
	return -1
}

// emittedEventKinds returns every value the Kind of a coord.Event built in coord's sources (the scheduler,
// its merge queue, convoys; tests excluded) can take.
func emittedEventKinds(t *testing.T) []string {
	k := &kindScan{t: t, fset: token.NewFileSet(), consts: map[string]string{}, calls: map[string][]callSite{}, seen: map[string]bool{}}
	type file struct {
		pkg string
		f   *ast.File
	}
	var files []file
	err := filepath.WalkDir(filepath.Join("..", "coord"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(k.fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, file{f.Name.Name, f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, d := range f.f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if bl, ok := vs.Values[i].(*ast.BasicLit); ok && bl.Kind == token.STRING {
								v, _ := strconv.Unquote(bl.Value)
								k.consts[f.pkg+"\x00"+n.Name] = v
								k.consts[f.pkg+"."+n.Name] = v
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Body == nil {
					continue
				}
				ast.Inspect(d.Body, func(n ast.Node) bool {
					if c, ok := n.(*ast.CallExpr); ok {
						name := ""
						switch fn := c.Fun.(type) {
						case *ast.Ident:
							name = fn.Name
						case *ast.SelectorExpr:
							name = fn.Sel.Name
						}
						if name != "" {
							k.calls[f.pkg+"\x00"+name] = append(k.calls[f.pkg+"\x00"+name], callSite{c, d})
						}
					}
					return true
				})
			}
		}
	}
	set := map[string]bool{}
	for _, f := range files {
		for _, d := range f.f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				cl, ok := n.(*ast.CompositeLit)
				if !ok || !isEventType(cl.Type) {
					return true
				}
				for _, el := range cl.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Kind" {
							for _, v := range k.resolve(f.pkg, fn, kv.Value) {
								set[v] = true
							}
						}
					}
				}
				return true
			})
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func isEventType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "Event"
	case *ast.SelectorExpr:
		p, ok := x.X.(*ast.Ident)
		return ok && p.Name == "coord" && x.Sel.Name == "Event"
	}
	return false
}

// TestEventKindsMatchCoord: EventKinds (what events.subscribe accepts) is exactly the set of kinds
// coord's sources put in an Event, and docs/protocol.md lists each of them.
func TestEventKindsMatchCoord(t *testing.T) {
	emitted := emittedEventKinds(t)
	if len(emitted) < 20 {
		t.Fatalf("found only %d event kinds in coord's sources (%v): the scan is broken", len(emitted), emitted)
	}
	listed := make([]string, len(EventKinds))
	for i, k := range EventKinds {
		listed[i] = k.Kind
		if k.Meaning == "" {
			t.Errorf("event kind %s has no meaning", k.Kind)
		}
	}
	for _, e := range emitted {
		if !slices.Contains(listed, e) {
			t.Errorf("coord emits event kind %q, missing from rpc.EventKinds (events.subscribe would refuse it)", e)
		}
	}
	for _, l := range listed {
		if !slices.Contains(emitted, l) {
			t.Errorf("rpc.EventKinds lists %q, which coord never emits", l)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range listed {
		if !strings.Contains(string(doc), "| `"+l+"` |") {
			t.Errorf("docs/protocol.md's event kinds table has no row for %q", l)
		}
	}
}

// TestSubscribeRefusesUnknownKinds: events.subscribe answers -32602 naming a kind the coordinator never
// emits (a typo would otherwise subscribe to nothing, silently) and accepts the known ones.
func TestSubscribeRefusesUnknownKinds(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.helloAs("sub", "")
	r := p.call(`{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"kinds":["completed","bogus"]}}`)
	if !strings.Contains(r, `"code":-32602`) || !strings.Contains(r, `unknown event kind \"bogus\"`) {
		t.Errorf("subscribe to an unknown kind: %s", r)
	}
	for _, params := range []string{`{"kinds":["assigned","completed","merge_merged"]}`, `{}`, `{"kinds":[]}`} {
		if r := p.call(`{"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":` + params + `}`); !strings.Contains(r, `"subscribed":true`) {
			t.Errorf("subscribe %s: %s", params, r)
		}
	}
}
