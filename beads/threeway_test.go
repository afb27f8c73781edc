package beads

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSyncerTakesRemovalsFromTheWorkspacesBd: bd shares the workspace with gtc, so a dependency or label
// a line drops since the line gtc last read or wrote is removed (bd dep remove, bd label remove), even
// the last label; one gtc added since stays. The import merged additively, as classic bd does from
// another clone: a removed dependency came back within a tick and the issue stayed blocked (trial).
func TestSyncerTakesRemovalsFromTheWorkspacesBd(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dep := func(id, on string) string {
		return `{"issue_id":"` + id + `","depends_on_id":"` + on + `","type":"blocks","created_at":"2026-01-01T00:00:00Z"}`
	}
	line := func(id string, upd time.Time, extra string) string {
		return `{"id":"` + id + `","title":"T ` + id + `","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"` +
			upd.Format(time.RFC3339) + `"` + extra + `}` + "\n"
	}
	s, b, path, _ := setup(t, "")
	os.WriteFile(path, []byte(
		line("a-1", t0, `,"labels":["one"],"dependencies":[`+dep("a-1", "a-8")+`,`+dep("a-1", "a-9")+`]`)+
			line("a-2", t0, `,"labels":["one","two"],"dependencies":[`+dep("a-2", "a-9")+`]`)+
			line("a-8", t0, "")+line("a-9", t0, "")), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// gtc adds a label and a dependency to a-2, not exported yet
	b.change("a-2", func(is *Issue) {
		is.Labels = append(is.Labels, "gtc")
		is.Dependencies = append(is.Dependencies, Dependency{IssueID: "a-2", DependsOnID: "a-8", Type: "blocks", CreatedAt: t0})
		is.UpdatedAt = t0.Add(30 * time.Minute)
	})
	// bd drops a-1's label and one dependency, and all of a-2's labels and its dependency
	t1 := t0.Add(time.Hour)
	os.WriteFile(path, []byte(
		line("a-1", t1, `,"dependencies":[`+dep("a-1", "a-8")+`]`)+
			line("a-2", t1, "")+
			line("a-8", t0, "")+line("a-9", t0, "")), 0o644)
	if _, err := s.Import(ctx); err != nil {
		t.Fatal(err)
	}
	a1 := b.get("a-1").Issue
	if len(a1.Labels) != 0 || len(a1.Dependencies) != 1 || a1.Dependencies[0].DependsOnID != "a-8" {
		t.Errorf("a-1: labels %v deps %+v, want none and a-8 alone", a1.Labels, a1.Dependencies)
	}
	a2 := b.get("a-2").Issue
	if !slices.Equal(a2.Labels, []string{"gtc"}) || len(a2.Dependencies) != 1 || a2.Dependencies[0].DependsOnID != "a-8" {
		t.Errorf("a-2: labels %v deps %+v, want gtc's own label and dependency alone", a2.Labels, a2.Dependencies)
	}
	if _, err := s.Export(ctx); err != nil {
		t.Fatal(err)
	}
	out := string(fileBytes(t, path))
	if strings.Contains(out, `"depends_on_id":"a-9"`) || strings.Contains(out, `"one"`) {
		t.Errorf("the removals came back:\n%s", out)
	}
}

// TestSyncerOlderReopenKeepsANewerClose: a line that reopens an issue gtc closed later (an older copy
// of the file, edited after the claim and put back by git while the sync could not export) does not
// undo the completion; its other edits are taken. It reopened the issue, which was done twice (trial).
// A close in the line still wins over a newer change of gtc's that is not a close.
func TestSyncerOlderReopenKeepsANewerClose(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, b, path, _ := setup(t, "")
	claimed := `{"id":"a-1","title":"Old title","status":"in_progress","priority":2,"issue_type":"task","assignee":"alice","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:10Z"}` + "\n"
	os.WriteFile(path, []byte(claimed), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	closedAt := t0.Add(41 * time.Second)
	b.change("a-1", func(is *Issue) { // alice's completion, not exported yet
		is.Status, is.Assignee, is.ClosedAt, is.CloseReason, is.UpdatedAt = "closed", "alice", &closedAt, "done", closedAt
	})
	older := `{"id":"a-1","title":"New title","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:40Z"}` + "\n"
	os.WriteFile(path, []byte(older), 0o644)
	if _, err := s.Import(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.get("a-1").Issue
	if got.Status != "closed" || got.ClosedAt == nil || got.CloseReason != "done" || got.Title != "New title" {
		t.Errorf("a-1: status %q closed_at %v reason %q title %q, want gtc's close with the line's title",
			got.Status, got.ClosedAt, got.CloseReason, got.Title)
	}
}

// TestSyncerWritesBackAKeptTombstone: a line that would bring a deleted issue back is not taken (bd
// never resurrects a tombstone), and the file gets the tombstone back instead of keeping the live
// line for good (trial: gtc listed it deleted, the file said open). A bd v1 file, which holds no
// tombstones, loses the line.
func TestSyncerWritesBackAKeptTombstone(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, tomb, live, want string
	}{
		{"classic",
			`{"id":"a-1","title":"Gone","status":"tombstone","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T01:00:00Z","deleted_at":"2026-01-01T01:00:00Z"}`,
			`{"id":"a-1","title":"From another clone","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T02:00:00Z"}`,
			`"status":"tombstone"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, b, path, _ := setup(t, "")
			keepLine := `{"id":"a-2","title":"Kept","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
			os.WriteFile(path, []byte(tc.tomb+"\n"+keepLine+"\n"), 0o644)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, []byte(tc.live+"\n"+keepLine+"\n"), 0o644)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if st := b.get("a-1").Issue.Status; st != "tombstone" {
				t.Fatalf("a-1 is %s in the store", st)
			}
			out := string(fileBytes(t, path))
			if !strings.Contains(out, tc.want) || strings.Contains(out, "From another clone") || !strings.Contains(out, keepLine+"\n") {
				t.Errorf("file after the sync:\n%s", out)
			}
		})
	}
}

// TestSyncerV1KeepsADeletedIssueOut: in a bd v1 file (no tombstone lines) an issue gtc deleted loses its
// line; a live line for it coming back (another clone, a merge) is not taken and is removed again.
func TestSyncerV1KeepsADeletedIssueOut(t *testing.T) {
	ctx := context.Background()
	typed := func(id, title, upd string) string {
		return `{"_type":"issue","id":"` + id + `","title":"` + title + `","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"` + upd + `","dependency_count":0,"dependent_count":0,"comment_count":0}` + "\n"
	}
	s, b, path, _ := setup(t, "")
	kept := typed("m-2", "Kept", "2026-05-09T06:10:55Z")
	os.WriteFile(path, []byte(typed("m-1", "Doomed", "2026-05-09T06:10:55Z")+kept), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	del := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	b.change("m-1", func(is *Issue) { is.Status, is.DeletedAt, is.UpdatedAt = "tombstone", &del, del })
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(fileBytes(t, path)); got != kept {
		t.Fatalf("after the delete:\n%s", got)
	}
	os.WriteFile(path, []byte(typed("m-1", "Back from a clone", "2026-05-11T00:00:00Z")+kept), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(fileBytes(t, path)); got != kept {
		t.Errorf("after a live line came back:\n%s", got)
	}
}

// TestSyncerV1DeletedLineStaysOut: an issue whose line bd v1 dropped (its delete) and that gtc then
// changes (an operator's update, a worker's completion) is not written back into the file — bd v1
// refuses a file holding issues its database lacks — and stays dirty, so the next import still finds it
// missing (re-trial: the export inserted the line again); when the line comes back as it was (a
// checkout), gtc's change is written into it (second re-trial: it was marked clean and never was).
// Both exports.
func TestSyncerV1DeletedLineStaysOut(t *testing.T) {
	typed := func(id, upd string) string {
		return `{"_type":"issue","id":"` + id + `","title":"T ` + id + `","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"` + upd + `","dependency_count":0,"dependent_count":0,"comment_count":0}` + "\n"
	}
	for _, whole := range []bool{false, true} {
		t.Run(map[bool]string{false: "streamed", true: "whole"}[whole], func(t *testing.T) {
			ctx := context.Background()
			s, mem, path, _ := setup(t, "")
			if whole {
				s = NewSyncer(path, plainBackend{mem}, nil)
			}
			kept := typed("m-2", "2026-05-09T06:10:55Z")
			gone := typed("m-1", "2026-05-09T06:10:55Z")
			os.WriteFile(path, []byte(gone+kept), 0o644)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, []byte(kept), 0o644) // bd v1: bd delete m-1
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			up := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
			mem.change("m-1", func(is *Issue) { is.Priority, is.UpdatedAt = 0, up })
			for range 2 {
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := string(fileBytes(t, path)); got != kept {
				t.Fatalf("file after a change of the deleted m-1:\n%s", got)
			}
			if !mem.get("m-1").Dirty {
				t.Error("m-1 marked exported though it was not written")
			}
			os.WriteFile(path, []byte(gone+kept), 0o644) // the line is back as it was
			for range 2 {
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := string(fileBytes(t, path)); !strings.Contains(got, `"id":"m-1","title":"T m-1","status":"open","priority":0`) {
				t.Errorf("gtc's change did not reach the line that came back:\n%s", got)
			}
		})
	}
}

// TestSyncerKeepsGtcRemovalsOverAStaleLine: a dependency gtc removed (issue.dep.remove) and not exported
// yet stays removed when bd edits another field of the issue on a line that still holds it, as a label
// gtc removed does (re-trial: the label stayed removed, the dependency came back and held the issue).
func TestSyncerKeepsGtcRemovalsOverAStaleLine(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := func(title string, upd time.Time) string {
		return `{"id":"a-1","title":"` + title + `","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"` +
			upd.Format(time.RFC3339) + `","labels":["drop","keep"],"dependencies":[{"issue_id":"a-1","depends_on_id":"a-9","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]}` + "\n" +
			`{"id":"a-9","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}` + "\n"
	}
	s, b, path, _ := setup(t, "")
	os.WriteFile(path, []byte(line("Old", t0)), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b.change("a-1", func(is *Issue) { // gtc: dep.remove and label.remove, not exported yet
		is.Dependencies, is.Labels, is.UpdatedAt = nil, []string{"keep"}, t0.Add(time.Minute)
	})
	os.WriteFile(path, []byte(line("New", t0.Add(time.Hour))), 0o644) // bd retitles it on the old line
	if _, err := s.Import(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.get("a-1").Issue
	if got.Title != "New" || len(got.Dependencies) != 0 || !slices.Equal(got.Labels, []string{"keep"}) {
		t.Errorf("a-1: title %q deps %+v labels %v, want bd's title with gtc's removals", got.Title, got.Dependencies, got.Labels)
	}
}
