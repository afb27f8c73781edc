package daemon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
)

// issueService carries out the issue.* methods: it reads through the store and changes through the
// engine, so the scheduler's ready set follows every change.
type issueService struct {
	d    *Daemon
	mu   sync.Mutex // serialises read-modify-write of one issue against another
	prof profileCache

	fresh freshPushes // rendered pushes of issues just created

	// The id prefix, computed once and again when config.yaml changes. Its own lock: a create (served
	// on its connection's reader) must not wait behind an edit holding mu over a commit.
	prefixMu    sync.Mutex
	prefixVal   string
	prefixMtime time.Time
	prefixSet   bool
}

func newIssueService(d *Daemon) *issueService { return &issueService{d: d} }

// profile is the JSONL file's writer profile as of the last sync (a create must not wait for, nor
// re-read, a file the exporter is rewriting); before the first sync it is read from the file
// (classic when the file is new or unreadable).
func (s *issueService) profile() beads.Profile {
	if p, ok := s.d.syncer.Profile(); ok {
		return p
	}
	return s.prof.get(s.d.cfg.JSONLPath())
}

// render returns an issue's current record as JSON (the stored line with gtc's changes applied) and
// the prompt handed to an agent.
func (s *issueService) render(id string) (json.RawMessage, string, error) {
	is, raw, err := s.d.db.GetIssue(context.Background(), id)
	if err != nil {
		return nil, "", err
	}
	b, err := recordJSON(is, raw)
	if err != nil {
		return nil, "", err
	}
	return b, promptOf(is), nil
}

// renderPush is render for the push path: the record as last written to issues.jsonl, unpatched (the
// lease carries gtc's own state), so a push costs one narrow read and no re-encoding. The prompt comes
// from the stored view, which follows protocol edits before they are exported.
func (s *issueService) renderPush(id string) (pushRender, error) {
	if p, ok := s.fresh.take(id); ok {
		return pushRender{record: p.record, prompt: p.prompt}, nil
	}
	raw, body, err := s.d.db.Body(context.Background(), id)
	if err != nil {
		return pushRender{}, err
	}
	if raw != nil {
		// the record is raw as it is; of the body only the prompt's three fields are needed, and they
		// go to the wire still JSON-encoded
		if title, desc, ac, ok := beads.PromptFieldsRawJSON(body); ok {
			return pushRender{record: json.RawMessage(raw), promptJSON: promptJSON(title, desc, ac)}, nil
		}
	}
	// beads.DecodeIssueJSON gives json.Unmarshal's Issue without its reflection (and a stored body is
	// json.Marshal of an Issue, so it decodes as an Issue).
	is, err := beads.DecodeIssueJSON(body)
	if err != nil {
		return pushRender{}, fmt.Errorf("decode stored issue %s: %w", id, err)
	}
	if raw == nil { // never written to the file yet (created through the protocol)
		b, err := recordJSON(is, nil)
		return pushRender{record: b, prompt: promptOf(is)}, err
	}
	return pushRender{record: json.RawMessage(raw), prompt: promptOf(is)}, nil
}

// pushRender is an assignment's issue record and prompt, the prompt as text or already JSON-encoded.
type pushRender struct {
	record     json.RawMessage
	prompt     string
	promptJSON json.RawMessage
}

// promptOf is the text handed to an agent: title, description and acceptance criteria.
func promptOf(is beads.Issue) string {
	p := is.Title
	if is.Description != "" {
		p += "\n\n" + is.Description
	}
	if is.AcceptanceCriteria != "" {
		p += "\n\nAcceptance criteria:\n" + is.AcceptanceCriteria
	}
	return p
}

// promptJSON is promptOf encoded as a JSON string, from the three fields' JSON string contents
// (escapes kept): joined escaped contents decode to the join of the decoded ones, and a content is empty
// exactly when its text is.
func promptJSON(title, description, acceptance []byte) json.RawMessage {
	const sep, acHead = `\n\n`, `\n\nAcceptance criteria:\n`
	b := make([]byte, 0, 2+len(title)+len(sep)+len(description)+len(acHead)+len(acceptance))
	b = append(append(b, '"'), title...)
	if len(description) > 0 {
		b = append(append(b, sep...), description...)
	}
	if len(acceptance) > 0 {
		b = append(append(b, acHead...), acceptance...)
	}
	return append(b, '"')
}

// recordJSON patches the stored raw record with the current view, or builds a record when there is none.
func recordJSON(is beads.Issue, raw []byte) (json.RawMessage, error) {
	prof := beads.Classic
	if len(raw) > 0 {
		f, err := beads.Parse("record", raw, beads.ParseOptions{})
		if err == nil && len(f.Issues()) == 1 {
			rec := f.Issues()[0]
			if _, err := rec.Apply(is, f.Profile); err == nil {
				return json.RawMessage(rec.Raw()), nil
			}
		}
	}
	rec, err := beads.NewRecord(is, prof)
	if err != nil {
		return nil, fmt.Errorf("encode issue %s: %w", is.ID, err)
	}
	return json.RawMessage(rec.Raw()), nil
}

func (s *issueService) get(ctx context.Context, id string) (*rpc.IssueResult, error) {
	is, raw, err := s.d.db.GetIssue(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := recordJSON(is, raw)
	if err != nil {
		return nil, err
	}
	return &rpc.IssueResult{Issue: b}, nil
}

// put hands a changed issue to the engine and returns its new record; keepState says the change does not
// touch the scheduler-owned fields (status, assignee), which the engine then keeps as they are now.
func (s *issueService) put(ctx context.Context, is beads.Issue, keepState bool) (*rpc.IssueResult, error) {
	return s.putIf(ctx, is, keepState, nil, "")
}

// putIf is put, refused (conflict) if the scheduler's state of the issue changed after since; actor
// names who made the change (the audit log's status_changed).
func (s *issueService) putIf(ctx context.Context, is beads.Issue, keepState bool, since *time.Time, actor string) (*rpc.IssueResult, error) {
	// The rendering kept for the issue's first push is dropped once this change is durable, on the
	// engine's goroutine: commits finish in order there, so a create's keep (which runs when the create
	// is durable, possibly after this change read the new issue) can never come after it.
	forget := func() { s.fresh.forget(is.ID) }
	if err := s.d.engine.PutIssuesThen(ctx, []coord.IssuePut{{Issue: is, KeepState: keepState, IfUnchangedSince: since, Actor: actor}}, forget); err != nil {
		return nil, err
	}
	return s.get(ctx, is.ID)
}

// modify loads an issue, applies fn and stores the result with a fresh updated_at. Unless stateful, fn
// must not change status or assignee: the engine keeps their current values (the read may be stale).
func (s *issueService) modify(ctx context.Context, id string, stateful bool, actor string, fn func(is *beads.Issue) error) (*rpc.IssueResult, error) {
	if id == "" {
		return nil, coord.Errorf(coord.EInvalid, "id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is, _, err := s.d.db.GetIssue(ctx, id)
	if err != nil {
		return nil, err
	}
	if is.Status == "tombstone" {
		// bd never brings a deleted issue back (an import skips tombstone lines), and a change here
		// would put it back in the queue or in a convoy
		return nil, coord.Errorf(coord.EConflict, "issue %s is deleted (tombstone): it cannot be changed", id)
	}
	read, closedAt := is.UpdatedAt, is.ClosedAt
	if err := fn(&is); err != nil {
		return nil, err
	}
	if is.ClosedAt != nil && is.ClosedAt != closedAt {
		is.UpdatedAt = *is.ClosedAt // closed now: one instant, as bd stamps both
	} else {
		is.UpdatedAt = s.now()
	}
	if stateful {
		// status or assignee come from the caller: refused if a completion or a new lease (whose change
		// this read may predate) came since, instead of undoing it
		return s.putIf(ctx, is, false, &read, actor)
	}
	return s.put(ctx, is, true)
}

func (s *issueService) now() time.Time { return s.d.cfg.Clock.Now() }

// maxDepType is the longest dependency type accepted (bd's limit).
const maxDepType = 50

func (s *issueService) create(ctx context.Context, p rpc.IssueCreateParams) (*rpc.IssueResult, error) {
	type outcome struct {
		r   *rpc.IssueResult
		err error
	}
	ch := make(chan outcome, 1)
	s.createAsync(ctx, p, func(r *rpc.IssueResult, err error) { ch <- outcome{r, err} })
	// The outcome is waited for even when ctx ends (the caller went away): a create the engine has
	// taken commits anyway, and an idempotency key's cache must learn that, not "unavailable" (which it
	// forgets, so a retry with the key would create the issue a second time).
	select {
	case o := <-ch:
		return o.r, o.err
	case <-s.d.engine.Stopped():
		select {
		case o := <-ch:
			return o.r, o.err
		default:
			return nil, coord.Errorf(coord.EUnavailable, "coordinator stopped")
		}
	}
}

// createAsync creates an issue without waiting for the commit: done gets the outcome once (from the
// engine's goroutine, or from this one for a refusal before the engine). The checks and reads come
// first, on the caller's goroutine; a generated id that collides is drawn again.
func (s *issueService) createAsync(ctx context.Context, p rpc.IssueCreateParams, done func(*rpc.IssueResult, error)) {
	is, ids, err := s.prepareCreate(ctx, p)
	if err != nil {
		done(nil, err)
		return
	}
	s.submitCreate(is, ids, 0, done)
}

// newIDs says where a create's id comes from: given by the caller, the next child number of a parent
// (bd's hierarchical ids: parent.1, parent.2, ...), or drawn under the workspace's prefix.
type newIDs struct {
	fixed     string
	parent    string
	lastChild int // the highest child number of parent stored when the create was checked
	prefix    string
}

// candidate is the id of the n-th attempt (the ones before were taken).
func (g newIDs) candidate(n int) string {
	switch {
	case g.fixed != "":
		return g.fixed
	case g.parent != "":
		return g.parent + "." + strconv.Itoa(g.lastChild+1+n)
	}
	return candidateID(g.prefix, n)
}

// prepareCreate checks the params and builds the issue (without its id) and where its id comes from.
func (s *issueService) prepareCreate(ctx context.Context, p rpc.IssueCreateParams) (beads.Issue, newIDs, error) {
	title := strings.TrimSpace(p.Title)
	if title == "" || len(title) > 500 {
		return beads.Issue{}, newIDs{}, coord.Errorf(coord.EInvalid, "title must be 1 to 500 characters")
	}
	prio := 2
	if p.Priority != nil {
		prio = *p.Priority
	}
	if prio < 0 || prio > 4 {
		return beads.Issue{}, newIDs{}, coord.Errorf(coord.EInvalid, "priority must be 0 (highest) to 4")
	}
	typ := strings.TrimSpace(p.Type)
	if typ == "" {
		typ = "task"
	}
	if err := s.knownType(ctx, typ); err != nil {
		return beads.Issue{}, newIDs{}, err
	}
	if p.ID != "" && !coord.SafeID(p.ID) {
		return beads.Issue{}, newIDs{}, coord.Errorf(coord.EInvalid, "id %q: use ASCII letters, digits, '.', '_' and '-' (at most %d)", p.ID, coord.MaxIDBytes)
	}
	now := s.now()
	if s.profile().Modern() {
		now = now.UTC().Truncate(time.Second)
	}
	is := beads.Issue{Title: title, Description: p.Description, Status: "open", Priority: prio,
		IssueType: typ, Assignee: p.Assignee, CreatedAt: now, CreatedBy: "gtc", UpdatedAt: now,
		Labels: createLabels(p.Labels)}
	ids := newIDs{fixed: p.ID}
	specs := p.Deps
	if p.Parent != "" {
		if !coord.SafeID(p.Parent) {
			return beads.Issue{}, newIDs{}, coord.Errorf(coord.EInvalid, "parent %q is not an issue id", p.Parent)
		}
		// the parent's existence is checked with the dependency's, atomically with the put
		specs = append(slices.Clip(specs), rpc.DepSpec{ID: p.Parent, Type: "parent-child"})
		if p.ID == "" {
			last, err := s.d.db.LastChild(ctx, p.Parent)
			if err != nil {
				return beads.Issue{}, newIDs{}, err
			}
			ids.parent, ids.lastChild = p.Parent, last
		}
	}
	deps, err := createDeps(specs, now)
	if err != nil {
		return beads.Issue{}, newIDs{}, err
	}
	is.Dependencies = deps
	if ids.fixed == "" && ids.parent == "" {
		ids.prefix = s.prefix(ctx)
	}
	return is, ids, nil
}

// createLabels returns a create's labels trimmed, without empty or repeated ones, sorted (nil when
// none). Sorting first makes repeats neighbours (checking each label against those kept was quadratic).
func createLabels(ls []string) []string {
	var out []string
	for _, l := range ls {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// createDeps returns a create's dependencies in the order given, the same edge (id and type) once.
func createDeps(deps []rpc.DepSpec, now time.Time) ([]beads.Dependency, error) {
	var out []beads.Dependency
	type edge struct{ id, typ string }
	seen := make(map[edge]struct{}, len(deps)) // a scan of those kept was quadratic
	for _, dp := range deps {
		if dp.ID == "" {
			return nil, coord.Errorf(coord.EInvalid, "deps: id is required")
		}
		// that dp.ID exists is checked by the scheduler, atomically with the put (coord.IssuePut.Create):
		// a create may name one submitted just before it on the same connection
		t := dp.Type
		if t == "" {
			t = "blocks"
		}
		if len(t) > maxDepType {
			return nil, coord.Errorf(coord.EInvalid, "deps: type at most %d characters", maxDepType)
		}
		if _, dup := seen[edge{dp.ID, t}]; dup {
			continue // the same edge twice is one edge
		}
		seen[edge{dp.ID, t}] = struct{}{}
		out = append(out, beads.Dependency{DependsOnID: dp.ID, Type: t, CreatedAt: now, CreatedBy: "gtc"})
	}
	return out, nil
}

// submitCreate hands the n-th attempt of a create to the engine, under the n-th candidate id. The
// scheduler refuses an id that exists (in memory, atomically with the put); a refused generated id is
// followed by the next one, from a new goroutine (the engine's callback must not call the engine).
func (s *issueService) submitCreate(is beads.Issue, ids newIDs, n int, done func(*rpc.IssueResult, error)) {
	if ids.fixed == "" && n >= idTries {
		if ids.parent != "" {
			done(nil, coord.Errorf(coord.EInternal, "no free child id under %s", ids.parent))
		} else {
			done(nil, coord.Errorf(coord.EInternal, "no free issue id under prefix %s", ids.prefix))
		}
		return
	}
	id := ids.candidate(n)
	is.ID = id
	is.Dependencies = slices.Clone(is.Dependencies) // a refused attempt's put may still be referenced
	for i := range is.Dependencies {
		is.Dependencies[i].IssueID = id
	}
	// The reply and the first push are rendered once, here, from the issue as created (as renderPush
	// would render it from the store before its first export).
	rec, err := recordJSON(is, nil)
	if err != nil {
		done(nil, err)
		return
	}
	prompt := promptOf(is)
	// kept once the create is durable and before its first push leaves (never for a refused id, whose
	// rendering would be another issue's)
	keep := func() { s.fresh.put(id, rec, prompt) }
	s.d.engine.PutIssuesAsync([]coord.IssuePut{{Issue: is, Create: true}}, keep, func(err error) {
		switch {
		case err == nil:
			done(&rpc.IssueResult{Issue: rec}, nil)
		case coord.ErrorCode(err) == coord.EConflict && ids.fixed == "":
			go s.submitCreate(is, ids, n+1, done)
		default:
			done(nil, err)
		}
	})
}

// exists refuses a dependency on an issue gtc does not know (files may hold such edges; the protocol
// does not create them).
func (s *issueService) exists(ctx context.Context, id string) error {
	if _, _, err := s.d.db.Body(ctx, id); err != nil {
		if coord.ErrorCode(err) == coord.ENotFound {
			return coord.Errorf(coord.ENotFound, "depends on %s, which does not exist", id)
		}
		return err
	}
	return nil
}

// newID draws an unused issue id (checked against the store) for callers that create the issue
// through another path than create (a convoy's tracking issue); callers hold s.mu. A create in flight
// may take the same id first (creates do not hold s.mu while they commit): the scheduler then refuses
// the second with a conflict.
func (s *issueService) newID(ctx context.Context) (string, error) {
	prefix := s.prefix(ctx)
	for n := 0; n < idTries; n++ {
		id := candidateID(prefix, n)
		if _, _, err := s.d.db.Body(ctx, id); coord.ErrorCode(err) == coord.ENotFound {
			return id, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", coord.Errorf(coord.EInternal, "no free issue id under prefix %s", prefix)
}

// idTries is how many ids are drawn before giving up; candidateID draws the n-th: 4 random base-36
// characters after the prefix, one more after every ten collisions.
const idTries = 70

var candidateID = func(prefix string, n int) string { return prefix + "-" + randBase36(4+n/10) } // a variable for tests

// prefix is the issue prefix: config.yaml's issue-prefix, else the first stored id's, else "gtc".
// It is cached until config.yaml's modification time changes.
func (s *issueService) prefix(ctx context.Context) string {
	s.prefixMu.Lock()
	defer s.prefixMu.Unlock()
	var mtime time.Time
	if st, err := os.Stat(s.d.cfg.BeadsDir() + "/config.yaml"); err == nil {
		mtime = st.ModTime()
	}
	if s.prefixSet && mtime.Equal(s.prefixMtime) {
		return s.prefixVal
	}
	v, known := s.readPrefix(ctx)
	if known {
		s.prefixVal, s.prefixMtime, s.prefixSet = v, mtime, true
	}
	return v
}

// readPrefix works the prefix out from config.yaml or the stored ids; known is false when the store
// could not be read (the default is then not kept: the next create reads again).
func (s *issueService) readPrefix(ctx context.Context) (prefix string, known bool) {
	if b, err := os.ReadFile(s.d.cfg.BeadsDir() + "/config.yaml"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "issue-prefix:"); ok {
				if v = strings.Trim(strings.TrimSpace(v), `"'`); v != "" {
					return v, true
				}
			}
		}
	}
	// the prefix is the workspace's, not the caller's: a caller going away does not cut the read short
	list, err := s.d.db.ListIssues(context.WithoutCancel(ctx), storeFilterLimit(1))
	if err != nil {
		return "gtc", false
	}
	if len(list) > 0 {
		if i := strings.LastIndex(list[0].ID, "-"); i > 0 {
			return list[0].ID[:i], true
		}
	}
	return "gtc", true
}

func randBase36(n int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		v, _ := rand.Int(rand.Reader, big.NewInt(36))
		b[i] = digits[v.Int64()]
	}
	return string(b)
}

func (s *issueService) update(ctx context.Context, actor string, p rpc.IssueUpdateParams) (*rpc.IssueResult, error) {
	return s.modify(ctx, p.ID, p.Status != nil || p.Assignee != nil, actor, func(is *beads.Issue) error {
		if p.Title != nil {
			t := strings.TrimSpace(*p.Title)
			if t == "" || len(t) > 500 {
				return coord.Errorf(coord.EInvalid, "title must be 1 to 500 characters")
			}
			is.Title = t
		}
		if p.Description != nil {
			is.Description = *p.Description
		}
		if p.Notes != nil {
			is.Notes = *p.Notes
		}
		if p.Priority != nil {
			if *p.Priority < 0 || *p.Priority > 4 {
				return coord.Errorf(coord.EInvalid, "priority must be 0 (highest) to 4")
			}
			is.Priority = *p.Priority
		}
		if p.Type != nil && strings.TrimSpace(*p.Type) != "" {
			typ := strings.TrimSpace(*p.Type)
			if err := s.knownType(ctx, typ); err != nil {
				return err
			}
			is.IssueType = typ
		}
		if p.Assignee != nil {
			is.Assignee = *p.Assignee
		}
		if p.Status != nil {
			st := strings.TrimSpace(*p.Status)
			if st == "" {
				return coord.Errorf(coord.EInvalid, "status must not be empty")
			}
			if err := s.knownStatus(ctx, st); err != nil {
				return err
			}
			if st == "closed" && is.Status != "closed" {
				now := s.now()
				is.ClosedAt = &now
			} else if st != "closed" {
				is.ClosedAt, is.CloseReason = nil, ""
			}
			is.Status = st
		}
		return nil
	})
}

// bdStatuses are the statuses bd knows without configuration (classic and v1).
var bdStatuses = []string{"open", "in_progress", "blocked", "hooked", "deferred", "pinned", "closed", "tombstone"}

// knownStatus refuses a status bd would not know (a typo would otherwise become a custom status that
// blocks nothing in classic bd): bd's own, those the scheduler is configured with, Config.CustomStatuses,
// and any status an issue already has (a workspace's custom ones, imported from the file).
func (s *issueService) knownStatus(ctx context.Context, st string) error {
	c := s.d.cfg.Coord
	if slices.Contains(bdStatuses, st) || slices.Contains(s.d.cfg.CustomStatuses, st) ||
		st == c.StatusOpen || st == c.StatusHooked || st == c.StatusInProgress || st == c.StatusClosed ||
		st == c.StatusBlocked || st == c.CodeCompleteStatus {
		return nil
	}
	if used, err := s.inUse(ctx, store.IssueFilter{Status: st}); used || err != nil {
		return err
	}
	return coord.Errorf(coord.EInvalid, "unknown status %q: bd's are %s; a custom status needs gtc serve --custom-status %s (bd: status.custom)",
		st, strings.Join(bdStatuses, ", "), st)
}

// inUse reports whether some issue matches f (a workspace's own status or type, imported from its file).
func (s *issueService) inUse(ctx context.Context, f store.IssueFilter) (bool, error) {
	f.Limit = 1
	list, err := s.d.db.ListIssues(ctx, f)
	if err != nil {
		return false, fmt.Errorf("look up issues with %+v: %w", f, err)
	}
	return len(list) > 0, nil
}

// bdTypes are the issue types bd knows without configuration (classic and v1) and Gas Town's own.
var bdTypes = []string{"task", "bug", "feature", "epic", "chore", "event", "decision", "message", "molecule", "gate",
	"spike", "story", "milestone", "merge-request", "slot", "agent", "role", "rig", "convoy"}

// knownType refuses an issue type nobody declared (a typo would schedule as a task bd itself refuses to
// create): bd's and Gas Town's, the scheduler's workflow types, Config.CustomTypes, and any type an issue
// already has.
func (s *issueService) knownType(ctx context.Context, typ string) error {
	if slices.Contains(bdTypes, typ) || slices.Contains(s.d.cfg.CustomTypes, typ) || slices.Contains(s.d.cfg.Coord.WorkflowTypes, typ) {
		return nil
	}
	if used, err := s.inUse(ctx, store.IssueFilter{Type: typ}); used || err != nil {
		return err
	}
	return coord.Errorf(coord.EInvalid, "unknown type %q: bd's are %s; a custom type needs gtc serve --custom-type %s (bd: types.custom)",
		typ, strings.Join(bdTypes[:5], ", ")+", …", typ)
}

func (s *issueService) close(ctx context.Context, actor string, p rpc.IssueCloseParams) (*rpc.IssueResult, error) {
	return s.modify(ctx, p.ID, true, actor, func(is *beads.Issue) error {
		if is.Status == "closed" {
			return coord.Errorf(coord.EConflict, "issue %s is already closed", is.ID)
		}
		now := s.now()
		is.Status, is.ClosedAt, is.CloseReason = "closed", &now, p.Reason
		return nil
	})
}

func (s *issueService) depAdd(ctx context.Context, p rpc.IssueDepParams) (*rpc.IssueResult, error) {
	t := p.Type
	if t == "" {
		t = "blocks"
	}
	if p.DependsOn == p.ID {
		return nil, coord.Errorf(coord.EInvalid, "depends_on: an issue cannot depend on itself")
	}
	if len(t) > maxDepType {
		return nil, coord.Errorf(coord.EInvalid, "type: at most %d characters", maxDepType)
	}
	if err := s.exists(ctx, p.DependsOn); err != nil {
		return nil, err
	}
	return s.modify(ctx, p.ID, false, "", func(is *beads.Issue) error {
		for _, d := range is.Dependencies {
			if d.DependsOnID == p.DependsOn && d.Type == t {
				return coord.Errorf(coord.EConflict, "%s already depends on %s (%s)", is.ID, p.DependsOn, t)
			}
		}
		is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: is.ID, DependsOnID: p.DependsOn, Type: t, CreatedAt: s.now(), CreatedBy: "gtc"})
		return nil
	})
}

func (s *issueService) depRemove(ctx context.Context, p rpc.IssueDepParams) (*rpc.IssueResult, error) {
	t := p.Type
	if t == "" {
		t = "blocks" // as documented, and as dep.add: a parent-child or related edge stays
	}
	return s.modify(ctx, p.ID, false, "", func(is *beads.Issue) error {
		n := len(is.Dependencies)
		is.Dependencies = slices.DeleteFunc(is.Dependencies, func(d beads.Dependency) bool {
			return d.DependsOnID == p.DependsOn && d.Type == t
		})
		if len(is.Dependencies) == n {
			return coord.Errorf(coord.ENotFound, "%s has no %s dependency on %s", is.ID, t, p.DependsOn)
		}
		return nil
	})
}

func (s *issueService) labelAdd(ctx context.Context, p rpc.IssueLabelParams) (*rpc.IssueResult, error) {
	l := strings.TrimSpace(p.Label)
	if l == "" {
		return nil, coord.Errorf(coord.EInvalid, "label must not be empty")
	}
	if err := s.schedulerLabel(l); err != nil {
		return nil, err
	}
	return s.modify(ctx, p.ID, false, "", func(is *beads.Issue) error {
		if !slices.Contains(is.Labels, l) {
			is.Labels = append(is.Labels, l)
			slices.Sort(is.Labels)
		}
		return nil
	})
}

func (s *issueService) labelRemove(ctx context.Context, p rpc.IssueLabelParams) (*rpc.IssueResult, error) {
	l := strings.TrimSpace(p.Label) // as labelAdd
	if err := s.schedulerLabel(l); err != nil {
		return nil, err
	}
	return s.modify(ctx, p.ID, false, "", func(is *beads.Issue) error {
		n := len(is.Labels)
		is.Labels = slices.DeleteFunc(is.Labels, func(x string) bool { return x == l })
		if len(is.Labels) == n {
			return coord.Errorf(coord.ENotFound, "%s has no label %q", is.ID, l)
		}
		return nil
	})
}

// schedulerLabel refuses edits of the dead-letter label, which follows the scheduler's state (an edit
// of it would be undone and answered success).
func (s *issueService) schedulerLabel(l string) error {
	f := s.d.cfg.Coord.FailedLabel
	if f == "" {
		f = "gtc:failed" // coord.Config's default
	}
	if l == f {
		return coord.Errorf(coord.EInvalid, "%s is the scheduler's dead-letter label: revive an issue with issue.update status open", f)
	}
	return nil
}

func (s *issueService) comment(ctx context.Context, who string, p rpc.IssueCommentParams) (*rpc.IssueResult, error) {
	if strings.TrimSpace(p.Text) == "" {
		return nil, coord.Errorf(coord.EInvalid, "text must not be empty")
	}
	author := p.Author
	if author == "" {
		author = who
	}
	return s.modify(ctx, p.ID, false, "", func(is *beads.Issue) error {
		// one past the largest numeric id on the issue (bd numbers comments; counting them collides
		// when ids have gaps), unless the issue's comments are not numbered
		id := len(is.Comments) + 1
		for _, c := range is.Comments {
			if n, err := strconv.Atoi(c.ID); err == nil && n >= id {
				id = n + 1
			}
		}
		is.Comments = append(is.Comments, beads.Comment{ID: strconv.Itoa(id), IssueID: is.ID, Author: author, Text: p.Text, CreatedAt: s.now()})
		return nil
	})
}
