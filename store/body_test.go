package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// bodyStd is Body as it was written before the driver-level read: database/sql on the read pool's
// prepared statement. The tests hold the new Body to it.
func bodyStd(ctx context.Context, db *DB, id string) (raw, body []byte, err error) {
	err = db.rs[rBody].QueryRowContext(ctx, id).Scan(&raw, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, coord.Errorf(coord.ENotFound, "issue %s not found", id)
	}
	if err != nil {
		return nil, nil, unavailable("read", fmt.Errorf("get issue %s body: %w", id, err))
	}
	return raw, body, nil
}

func TestBodyMatchesDatabaseSQL(t *testing.T) {
	obs := &countObserver{}
	db := openTest(t, Options{Observer: obs, ReadConns: 2})
	ctx := context.Background()
	withRaw := sampleIssue("gt-raw")
	noRaw := sampleIssue("gt-noraw")
	noRaw.Description = "line one\nline \"two\" <b> ünïcödé \u2028"
	emptyRaw := sampleIssue("gt-empty")
	commit(t, db,
		coord.IssuePut{Issue: withRaw, Raw: []byte(`{"id":"gt-raw","title":"from the file"}`), FromImport: true},
		coord.IssuePut{Issue: noRaw},
		coord.IssuePut{Issue: emptyRaw, Raw: []byte{}, FromImport: true},
	)
	for _, id := range []string{"gt-raw", "gt-noraw", "gt-empty", "gt-missing", ""} {
		t.Run(id, func(t *testing.T) {
			wantRaw, wantBody, wantErr := bodyStd(ctx, db, id)
			before := obs.reads["body"]
			raw, body, err := db.Body(ctx, id)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || coord.ErrorCode(err) != coord.ErrorCode(wantErr) {
				t.Fatalf("err = %v (%s), want %v (%s)", err, coord.ErrorCode(err), wantErr, coord.ErrorCode(wantErr))
			}
			if !bytes.Equal(raw, wantRaw) || (raw == nil) != (wantRaw == nil) {
				t.Fatalf("raw = %q (nil %v), want %q (nil %v)", raw, raw == nil, wantRaw, wantRaw == nil)
			}
			if !bytes.Equal(body, wantBody) || (body == nil) != (wantBody == nil) {
				t.Fatalf("body = %q, want %q", body, wantBody)
			}
			obs.mu.Lock()
			after := obs.reads["body"]
			obs.mu.Unlock()
			if after != before+1 {
				t.Fatalf("observer saw %d body reads, want %d", after, before+1)
			}
		})
	}
	// the values are the issue as stored
	_, body, err := db.Body(ctx, "gt-noraw")
	if err != nil {
		t.Fatal(err)
	}
	var got beads.Issue
	if err := json.Unmarshal(body, &got); err != nil || got.Description != noRaw.Description {
		t.Fatalf("stored body %s: %v", body, err)
	}
	if _, _, err := db.Body(ctx, "gt-missing"); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("missing issue: %v, want ENotFound", err)
	}
}

// TestBodyOwnsItsBytes: the returned slices are the caller's (a later read does not change them).
func TestBodyOwnsItsBytes(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	commit(t, db,
		coord.IssuePut{Issue: sampleIssue("gt-1"), Raw: []byte(`{"id":"gt-1"}`), FromImport: true},
		coord.IssuePut{Issue: sampleIssue("gt-2"), Raw: []byte(`{"id":"gt-2"}`), FromImport: true})
	raw1, body1, err := db.Body(ctx, "gt-1")
	if err != nil {
		t.Fatal(err)
	}
	keepRaw, keepBody := bytes.Clone(raw1), bytes.Clone(body1)
	for range 3 {
		if _, _, err := db.Body(ctx, "gt-2"); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(raw1, keepRaw) || !bytes.Equal(body1, keepBody) {
		t.Fatalf("gt-1's bytes changed under a later read: %q %q", raw1, body1)
	}
	raw1[0] = 'X' // writable, and not shared with the next read
	if raw, _, _ := db.Body(ctx, "gt-1"); !bytes.Equal(raw, keepRaw) {
		t.Fatalf("a write into a returned slice reached the next read: %q", raw)
	}
}

// TestBodyConcurrentWithCommits reads while the committer writes (run with -race).
func TestBodyConcurrentWithCommits(t *testing.T) {
	db := openTest(t, Options{ReadConns: 2})
	ctx := context.Background()
	const n = 50
	for i := range n {
		is := sampleIssue(fmt.Sprintf("gt-%d", i))
		commit(t, db, coord.IssuePut{Issue: is, Raw: fmt.Appendf(nil, `{"id":"gt-%d"}`, i), FromImport: true})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				i := r.IntN(n)
				raw, _, err := db.Body(ctx, fmt.Sprintf("gt-%d", i))
				if err != nil || string(raw) != fmt.Sprintf(`{"id":"gt-%d"}`, i) {
					errs <- fmt.Errorf("gt-%d: %q %v", i, raw, err)
					return
				}
			}
		}()
	}
	for i := range 30 {
		is := sampleIssue(fmt.Sprintf("gt-%d", i%n))
		is.Title = fmt.Sprintf("changed %d", i)
		commit(t, db, coord.IssuePut{Issue: is})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestBodyCanceledContext: a read with an ended context fails with the context's error, as database/sql's did.
func TestBodyCanceledContext(t *testing.T) {
	db := openTest(t, Options{})
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := db.Body(ctx, "gt-1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Body with a canceled context: %v", err)
	}
	if _, _, err := db.Body(context.Background(), "gt-1"); err != nil {
		t.Fatalf("after a canceled read: %v", err)
	}
}

// BenchmarkBody is the read behind every push (10,000 issues with raw records, random ids).
func BenchmarkBody(b *testing.B) {
	const n = 10000
	db := populated(b, n)
	ctx := context.Background()
	ids := make([]string, 1024)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range ids {
		ids[i] = fmt.Sprintf("gt-%06d", r.IntN(n))
	}
	for _, bc := range []struct {
		name string
		f    func(context.Context, *DB, string) ([]byte, []byte, error)
	}{
		{"databasesql", bodyStd},
		{"Body", func(ctx context.Context, db *DB, id string) ([]byte, []byte, error) { return db.Body(ctx, id) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, err := bc.f(ctx, db, ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
