package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/gastown/gtc/beads"
)

func TestDirtyPageWalksDirtyRecordsByID(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	var recs []beads.ImportedRecord
	for i := range 7 {
		id := fmt.Sprintf("gt-%d", i)
		recs = append(recs, beads.ImportedRecord{Issue: sampleIssue(id), Raw: []byte(`{}`), Dirty: i%3 != 0})
	}
	if err := db.ImportIssues(ctx, recs); err != nil {
		t.Fatal(err)
	}
	whole, err := db.Dirty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var paged []beads.StoredRecord
	after := ""
	for range 10 {
		page, err := db.DirtyPage(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d records, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	if len(whole) != 4 || len(paged) != len(whole) {
		t.Fatalf("Dirty %d records, pages %d, want 4", len(whole), len(paged))
	}
	for i := range whole {
		if paged[i].ID != whole[i].ID || paged[i].Rev != whole[i].Rev || !paged[i].Dirty {
			t.Fatalf("page record %d = %s rev %d, Dirty() has %s rev %d", i, paged[i].ID, paged[i].Rev, whole[i].ID, whole[i].Rev)
		}
	}
	var _ beads.DirtyPager = db
}
