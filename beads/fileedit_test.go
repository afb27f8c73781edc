package beads

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestFileEditMatchesSequential runs random sequences of Get, Apply (changing sort keys), Remove and
// Upsert on random files of every profile (unsorted ids, memory, header, other and blank lines) one
// call at a time on the File and as a fileEdit: the bytes and the index must come out identical.
func TestFileEditMatchesSequential(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	randID := func() string {
		return fmt.Sprintf("%c-%d", 'a'+rune(rnd.IntN(4)), rnd.IntN(60))
	}
	randIssue := func(id string) Issue {
		return Issue{ID: id, Title: "t " + id, Status: "open", Priority: rnd.IntN(3), IssueType: "task",
			CreatedAt: base.Add(time.Duration(rnd.IntN(3)) * time.Hour), UpdatedAt: base}
	}
	for it := range 1500 {
		prof := []Profile{Classic, ModernUntyped, ModernTyped}[it%3]
		lines, ops := rnd.IntN(30), rnd.IntN(30)
		if it%100 == 0 {
			lines, ops = 200+rnd.IntN(400), 100+rnd.IntN(300)
		}
		// the file
		var sb strings.Builder
		if prof == ModernTyped && rnd.IntN(3) == 0 {
			sb.WriteString(`{"_schema":"v1"}` + "\n")
		}
		seen := map[string]bool{}
		var ids []string
		for range lines {
			switch r := rnd.IntN(20); {
			case r == 0 && prof == ModernTyped:
				fmt.Fprintf(&sb, `{"_type":"memory","key":"k%d","value":"v"}`+"\n", rnd.IntN(1000))
			case r == 1 && prof == ModernTyped:
				sb.WriteString(`{"_type":"note","x":1}` + "\n")
			case r == 2:
				sb.WriteString("\n")
			default:
				id := randID()
				if seen[id] {
					continue
				}
				seen[id] = true
				ids = append(ids, id)
				rec, err := NewRecord(randIssue(id), prof)
				if err != nil {
					t.Fatal(err)
				}
				sb.Write(rec.raw)
				sb.WriteByte('\n')
			}
		}
		if prof == ModernTyped && rnd.IntN(2) == 0 {
			for k := rnd.IntN(4); k > 0; k-- {
				fmt.Fprintf(&sb, `{"_type":"memory","key":"m%d","value":"v"}`+"\n", k)
			}
		}
		data := []byte(sb.String())
		seq, err := Parse("f", data, ParseOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		bat, _ := Parse("f", data, ParseOptions{})
		if len(ids) > 0 && seq.Profile != prof {
			t.Fatalf("profile %v, want %v", seq.Profile, prof)
		}
		// the calls, as exportWhole makes them, plus Upserts of ids present
		ed := bat.edit()
		var log []string
		for range ops {
			id := randID()
			if len(ids) > 0 && rnd.IntN(3) == 0 {
				id = ids[rnd.IntN(len(ids))]
			}
			is := randIssue(id)
			op := rnd.IntN(10)
			log = append(log, fmt.Sprintf("%d %s %d %s", op, id, is.Priority, is.CreatedAt.Format(time.TimeOnly)))
			switch {
			case op < 3:
				if a, b := seq.Remove(id), ed.remove(id); a != b {
					t.Fatalf("remove %s: %v, edit %v\n%s", id, a, b, strings.Join(log, "\n"))
				}
			case op == 3:
				ra, _ := NewRecord(is, seq.Profile)
				rb, _ := NewRecord(is, bat.Profile)
				seq.Upsert(ra)
				ed.upsert(rb)
			default:
				ra, rb := seq.Get(id), ed.get(id)
				if (ra == nil) != (rb == nil) || ra != nil && !bytes.Equal(ra.raw, rb.raw) {
					t.Fatalf("get %s: %v, edit %v\n%s", id, ra, rb, strings.Join(log, "\n"))
				}
				if ra == nil {
					ra, _ = NewRecord(is, seq.Profile)
					rb, _ = NewRecord(is, bat.Profile)
					seq.Upsert(ra)
					ed.upsert(rb)
					continue
				}
				for _, r := range []*Record{ra, rb} {
					if _, err := r.Apply(is, seq.Profile); err != nil {
						t.Fatal(err)
					}
					r.issue, r.members, r.scanned = nil, nil, false
				}
				ed.changed(rb)
			}
		}
		ed.finish()
		if a, b := seq.Bytes(), bat.Bytes(); !bytes.Equal(a, b) {
			t.Fatalf("profile %v, file\n%s\ncalls\n%s\nsequential\n%s\nedit\n%s", prof, data, strings.Join(log, "\n"), a, b)
		}
		if len(seq.index) != len(bat.index) {
			t.Fatalf("index: %d ids, edit %d", len(seq.index), len(bat.index))
		}
		for id, i := range seq.index {
			if j, ok := bat.index[id]; !ok || i != j {
				t.Fatalf("index %s: %d, edit %d %v", id, i, j, ok)
			}
		}
	}
}

// TestFileEditRepeatedIDs: a File repeating an issue id (Parse refuses one) is edited call by call.
func TestFileEditRepeatedIDs(t *testing.T) {
	mk := func() *File {
		f := &File{Records: []*Record{
			{Kind: KindIssue, ID: "a", raw: []byte(`{"id":"a","n":1}`)},
			{Kind: KindIssue, ID: "c", raw: []byte(`{"id":"c"}`)},
			{Kind: KindIssue, ID: "a", raw: []byte(`{"id":"a","n":2}`)},
		}}
		f.reindex()
		return f
	}
	seq, bat := mk(), mk()
	ed := bat.edit()
	if !ed.direct {
		t.Fatal("not direct")
	}
	for _, id := range []string{"a", "a", "b"} {
		if id == "b" {
			seq.Upsert(&Record{Kind: KindIssue, ID: "b", raw: []byte(`{"id":"b"}`)})
			ed.upsert(&Record{Kind: KindIssue, ID: "b", raw: []byte(`{"id":"b"}`)})
			continue
		}
		if a, b := seq.Remove(id), ed.remove(id); a != b {
			t.Fatalf("remove %s: %v, edit %v", id, a, b)
		}
	}
	ed.finish()
	if a, b := seq.Bytes(), bat.Bytes(); !bytes.Equal(a, b) {
		t.Fatalf("sequential\n%s\nedit\n%s", a, b)
	}
}
