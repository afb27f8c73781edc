package beads

import (
	"bytes"
	"testing"
)

// TestProfileSortMatchesCorpora checks the profile order reproduces each corpus' own order.
func TestProfileSortMatchesCorpora(t *testing.T) {
	for _, c := range corpora[:3] {
		t.Run(c.name, func(t *testing.T) {
			f, _ := parseCorpus(t, c.name)
			is := f.Issues()
			for i := 1; i < len(is); i++ {
				if compareRecords(f.Profile, is[i-1], is[i]) > 0 {
					t.Fatalf("line %d sorts after line %d", is[i-1].Line, is[i].Line)
				}
			}
		})
	}
}

// TestUpsertInsertsAtSortPosition removes records and inserts them back: the file must come out identical.
func TestUpsertInsertsAtSortPosition(t *testing.T) {
	for _, c := range corpora[:3] {
		t.Run(c.name, func(t *testing.T) {
			f, data := parseCorpus(t, c.name)
			is := f.Issues()
			for _, i := range []int{0, 1, len(is) / 3, len(is) / 2, len(is) - 2, len(is) - 1} {
				r := is[i]
				if !f.Remove(r.ID) {
					t.Fatalf("remove %s", r.ID)
				}
				if f.Get(r.ID) != nil {
					t.Fatal("still there")
				}
				f.Upsert(&Record{Kind: KindIssue, ID: r.ID, raw: bytes.Clone(r.Raw())})
				if !bytes.Equal(f.Bytes(), data) {
					t.Fatalf("re-inserting %s (line %d) moved it", r.ID, r.Line)
				}
			}
			// Upsert of an existing id replaces in place.
			r := is[5]
			f.Upsert(&Record{Kind: KindIssue, ID: r.ID, raw: bytes.Clone(r.Raw())})
			if !bytes.Equal(f.Bytes(), data) {
				t.Fatal("replace moved the record")
			}
		})
	}
}

func TestUpsertIntoUnsortedAndEmptyFiles(t *testing.T) {
	in := `{"id":"c"}` + "\n" + `{"id":"a"}` + "\n"
	f, err := Parse("f", []byte(in), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.Upsert(&Record{Kind: KindIssue, ID: "b", raw: []byte(`{"id":"b"}`)})
	if got := string(f.Bytes()); got != `{"id":"b"}`+"\n"+in {
		t.Fatalf("unsorted insert: %q", got)
	}
	m, _ := Parse("m", []byte(`{"_type":"memory","key":"k","value":"v"}`+"\n"), ParseOptions{})
	m.Upsert(&Record{Kind: KindIssue, ID: "x", raw: []byte(`{"_type":"issue","id":"x"}`)})
	if got := string(m.Bytes()); got != `{"_type":"issue","id":"x"}`+"\n"+`{"_type":"memory","key":"k","value":"v"}`+"\n" {
		t.Fatalf("insert before memory: %q", got)
	}
	e, _ := Parse("e", nil, ParseOptions{})
	e.Upsert(&Record{Kind: KindIssue, ID: "x", raw: []byte(`{"id":"x"}`)})
	if got := string(e.Bytes()); got != `{"id":"x"}`+"\n" {
		t.Fatalf("empty file: %q", got)
	}
}
