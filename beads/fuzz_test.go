package beads

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseEncode checks that Parse never panics, that an unmodified parse encodes to the input, that
// parse → encode → parse is stable, and that patching a record with its own view is a no-op that
// leaves valid JSON.
func FuzzParseEncode(f *testing.F) {
	dir := corpusDir(f)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".jsonl" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		lines := bytes.SplitAfter(data, []byte("\n"))
		for i := 0; i < len(lines) && i < 40; i += 4 {
			f.Add(bytes.Join(lines[i:min(i+4, len(lines))], nil))
		}
	}
	f.Add([]byte("<<<<<<< a\n{\"id\":\"x\"}\n=======\n"))
	f.Add([]byte(`{"id":"a","comments":[{"id":1}],"dependencies":[{"metadata":{"a":1}}]}`))
	f.Add([]byte("{\"id\":\"a\"}\n{\"id\":\"a\"}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _ := Parse("fuzz", data, ParseOptions{KeepBad: true, MaxLine: 1 << 16})
		if file == nil {
			t.Fatal("KeepBad returned no file")
		}
		out := file.Bytes()
		if !bytes.Equal(out, data) {
			t.Fatalf("encode of unmodified parse differs:\n%q\n%q", data, out)
		}
		again, _ := Parse("fuzz", out, ParseOptions{KeepBad: true, MaxLine: 1 << 16})
		if len(again.Records) != len(file.Records) || !bytes.Equal(again.Bytes(), out) {
			t.Fatal("parse → encode → parse not stable")
		}
		for i, r := range file.Records {
			if again.Records[i].Kind != r.Kind {
				t.Fatalf("record %d kind %v → %v", i, r.Kind, again.Records[i].Kind)
			}
			if r.Kind != KindIssue {
				continue
			}
			is, err := r.Issue()
			if err != nil {
				continue
			}
			for _, p := range []Profile{Classic, ModernTyped} {
				c := &Record{Kind: KindIssue, ID: r.ID, raw: bytes.Clone(r.raw)}
				if _, err := c.Apply(is, p); err != nil {
					continue
				}
				pf, err := Parse("patched", c.raw, ParseOptions{})
				if err != nil {
					t.Fatalf("patched record does not parse: %v\n%s", err, c.raw)
				}
				back, err := pf.Records[0].Issue()
				if err != nil {
					t.Fatalf("patched record has no view: %v\n%s", err, c.raw)
				}
				if changed, _ := pf.Records[0].Apply(back, p); changed {
					t.Fatalf("second apply changed bytes:\n%s", c.raw)
				}
			}
		}
	})
}
