package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// crashKills is the number of kill -9 cycles: 3 by default, GTC_CRASH_KILLS (make crash-test) for more.
func crashKills(t *testing.T) int {
	if s := os.Getenv("GTC_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("GTC_CRASH_KILLS=%q: want a positive integer", s)
		}
		return n
	}
	return 3
}

// serveArgs are short timeouts so a crash loop runs in seconds; max-attempts is high because a
// kill costs the leases whose worker does not reconnect in time an attempt.
var serveArgs = []string{"--grace", "3s", "--ack-timeout", "2s", "--heartbeat-timeout", "5s",
	"--sync-interval", "150ms", "--backoff", "20ms", "--max-attempts", "1000"}

// TestCrashKill9 runs workers against `gtc serve`, kills the server with SIGKILL at random moments,
// restarts it, and checks after every kill that nothing acknowledged was lost or done twice.
func TestCrashKill9(t *testing.T) {
	kills := crashKills(t)
	nIssues := 300
	if s := os.Getenv("GTC_CRASH_ISSUES"); s != "" {
		nIssues, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kills %d, issues %d, seed %d", kills, nIssues, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := shortDir(t)
	ids := writeWorkspace(t, dir, nIssues, seed)
	dbPath := filepath.Join(dir, ".beads", "gtc.db")
	jsonl := filepath.Join(dir, ".beads", "issues.jsonl")
	sock := filepath.Join(dir, ".beads", "gtc.sock")

	p := startServe(t, dir, serveArgs...)
	led := newLedger()
	stopWorkers := startWorkers(sock, 4, 2*time.Millisecond, 25*time.Millisecond, led, seed)
	defer stopWorkers()

	prevClosed := map[string]bool{}
	for k := 1; k <= kills; k++ {
		// let the fleet make progress, then kill at a random moment
		before := len(led.snapshot())
		sc := dialClient(t, "unix", sock, "", "progress-"+strconv.Itoa(k))
		if !eventually(20*time.Second, func() bool {
			if len(led.snapshot()) >= before+5 {
				return true
			}
			st, err := sc.CoordStatus(context.Background())
			return err == nil && st.Issues.Closed == st.Issues.Total // nothing left to do
		}) {
			dumpState(t, sock, filepath.Join(dir, "serve.log"))
			t.Fatalf("kill %d: no progress for 20s after the restart", k)
		}
		sc.Close()
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		p.kill()
		acked := led.snapshot()

		// 1. what the server acknowledged is in SQLite, once, and leases are exclusive
		closed := checkDB(t, dbPath, acked, len(ids))
		for id := range prevClosed {
			if !closed[id] {
				t.Fatalf("kill %d: issue %s was closed before the previous kill and is not closed now", k, id)
			}
		}
		t.Logf("kill %d: %d completions acknowledged, %d closed in SQLite", k, len(acked), len(closed))

		// 2. restart; the state served equals the state that was durable at the kill
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // workers retry against a dead socket
		}
		p = startServe(t, dir, serveArgs...)
		c := dialClient(t, "unix", sock, "", "checker-"+strconv.Itoa(k))
		checkServed(t, c, closed)
		checkExclusiveLeases(t, c)

		// 3. after the next export ticks, issues.jsonl shows every acknowledged completion closed
		waitFor(t, 10*time.Second, "acknowledged completions exported to issues.jsonl", func() bool {
			st, err := jsonlStatuses(jsonl)
			if err != nil {
				return false
			}
			for id := range acked {
				if st[id] != "closed" {
					return false
				}
			}
			return len(st) == len(ids)
		})
		ids = topUp(t, c, ids, k, rng) // keep the fleet busy: every acknowledged create is checked too
		c.Close()
		prevClosed = closed
	}

	// the fleet finishes the rest after the last restart: every issue closed exactly once
	c := dialClient(t, "unix", sock, "", "checker-final")
	waitFor(t, 60*time.Second, "every issue closed", func() bool {
		st, err := c.CoordStatus(context.Background())
		return err == nil && st.Issues.Closed == len(ids)
	})
	stopWorkers()
	p.stop(t)
	acked := led.snapshot()
	closed := checkDB(t, dbPath, acked, len(ids))
	if len(closed) != len(ids) {
		t.Fatalf("%d of %d issues closed in SQLite", len(closed), len(ids))
	}
	st, err := jsonlStatuses(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if st[id] != "closed" {
			t.Fatalf("issues.jsonl after the final export: %s is %q", id, st[id])
		}
	}
	led.mu.Lock()
	dups := led.dups
	led.mu.Unlock()
	if len(dups) > 0 {
		t.Fatalf("an issue was acknowledged complete twice: %+v", dups)
	}
	t.Logf("FIGURES crash: kills=%d issues=%d acked_completions=%d assigns=%d resumed_leases=%d refused_completes=%d reconnects=%d",
		kills, len(ids), len(acked), led.assigns.Load(), led.resumed.Load(), led.refused.Load(), led.reconnects.Load())
}

// topUp creates 300 issues (some depending on others) when fewer than 300 are left open.
func topUp(t *testing.T, c *rpc.Client, ids []string, k int, rng *rand.Rand) []string {
	t.Helper()
	ctx := context.Background()
	st, err := c.CoordStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Issues.Total-st.Issues.Closed >= 300 {
		return ids
	}
	first := len(ids)
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("e2e-k%02d-%03d", k, i)
		p := rpc.IssueCreateParams{ID: id, Title: "created between kills", Idempotency: rpc.Idempotency{IdempotencyKey: id}}
		if i > 0 && rng.IntN(2) == 0 {
			p.Deps = []rpc.DepSpec{{ID: ids[first+rng.IntN(i)], Type: "blocks"}}
		}
		if _, err := c.IssueCreate(ctx, p); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkDB checks the database of a dead server and returns its closed issues.
func checkDB(t *testing.T, path string, acked map[string]completion, nIssues int) map[string]bool {
	t.Helper()
	db := openRO(t, path)
	defer db.Close()
	if got := queryStrings(t, db, `SELECT count(*) FROM issues`); got[0] != strconv.Itoa(nIssues) {
		t.Fatalf("SQLite holds %s issues, want %d", got[0], nIssues)
	}
	closed := map[string]bool{}
	for _, id := range queryStrings(t, db, `SELECT id FROM issues WHERE status = 'closed'`) {
		closed[id] = true
	}
	for id, c := range acked {
		if !closed[id] {
			t.Fatalf("acknowledged completion of %s (lease %s) is not closed in SQLite", id, c.LeaseID)
		}
		var state, outcome string
		if err := db.QueryRow(`SELECT state, outcome FROM leases WHERE id = ?`, c.LeaseID).Scan(&state, &outcome); err != nil {
			t.Fatalf("lease %s of an acknowledged completion: %v", c.LeaseID, err)
		}
		if state != "ended" || outcome != "success" {
			t.Fatalf("lease %s of an acknowledged completion is %s/%s", c.LeaseID, state, outcome)
		}
	}
	must := func(what, q string) {
		if bad := queryStrings(t, db, q); len(bad) > 0 {
			t.Fatalf("%s: %v", what, bad)
		}
	}
	must("issue completed twice (lease history)", `SELECT issue_id FROM leases WHERE state = 'ended'
		AND outcome IN ('success', 'code_complete') GROUP BY issue_id HAVING count(*) > 1`)
	must("issue completed twice (event log)", `SELECT issue_id FROM events WHERE kind = 'completed'
		GROUP BY issue_id HAVING count(*) > 1`)
	must("issue with two live leases", `SELECT issue_id FROM leases WHERE state IN ('pushed', 'acked')
		GROUP BY issue_id HAVING count(*) > 1`)
	must("closed issue with a live lease", `SELECT l.id FROM leases l JOIN issues i ON i.id = l.issue_id
		WHERE l.state IN ('pushed', 'acked') AND i.status = 'closed'`)
	must("closed issue without a completion", `SELECT i.id FROM issues i WHERE i.status = 'closed' AND NOT EXISTS
		(SELECT 1 FROM leases l WHERE l.issue_id = i.id AND l.state = 'ended' AND l.outcome = 'success')`)
	return closed
}

// checkServed checks through the protocol that every issue closed at the kill is closed after the restart.
func checkServed(t *testing.T, c *rpc.Client, closed map[string]bool) {
	t.Helper()
	ctx := context.Background()
	res, err := c.IssueList(ctx, rpc.IssueListParams{Status: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, raw := range res.Issues {
		var is struct{ ID, Status string }
		if err := json.Unmarshal(raw, &is); err != nil {
			t.Fatal(err)
		}
		served[is.ID] = true
	}
	var missing []string
	for id := range closed {
		if !served[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("closed before the kill but not served as closed after the restart: %v", missing)
	}
}

// checkExclusiveLeases checks coord.workers: no issue is held by two live leases.
func checkExclusiveLeases(t *testing.T, c *rpc.Client) {
	t.Helper()
	ws, err := c.CoordWorkers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	holder := map[string]string{}
	for _, w := range ws.Workers {
		for _, l := range w.Leases {
			if l.State == "ended" {
				continue
			}
			if prev, ok := holder[l.IssueID]; ok {
				t.Fatalf("issue %s has two live leases: %s and %s/%s", l.IssueID, prev, w.Name, l.ID)
			}
			holder[l.IssueID] = w.Name + "/" + l.ID
		}
	}
}

var _ = sql.ErrNoRows

// eventually polls cond every 20ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// dumpState logs the coordinator's status, workers and log tail (for a failing test).
func dumpState(t *testing.T, sock, logPath string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: sock}); err == nil {
		defer c.Close()
		if _, err := c.Hello(ctx, rpc.HelloParams{Name: "dump", Role: "client"}); err == nil {
			st, err := c.CoordStatus(ctx)
			t.Logf("status: %+v %v", st, err)
			ws, err := c.CoordWorkers(ctx)
			b, _ := json.Marshal(ws)
			t.Logf("workers: %s %v", b, err)
		}
	}
	t.Logf("server log tail:\n%s", tail(logPath))
}
