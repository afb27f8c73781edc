package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gastown/gtc/beads"
)

// IssueSpec is one generated load-test issue: id, priority and the ids it depends on (blocks edges).
type IssueSpec struct {
	ID       string
	Priority int
	Deps     []string
}

// DepShare is the fraction of generated issues that depend on earlier ones.
const DepShare = 0.2

// GenerateIssues makes n issues "<prefix>-<i>" with random priorities 0–4; about DepShare of them
// depend on one or two of the 50 issues before them (so the graph is acyclic and drains in order).
func GenerateIssues(n int, prefix string, seed uint64) []IssueSpec {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]IssueSpec, n)
	for i := range out {
		s := IssueSpec{ID: prefix + "-" + strconv.Itoa(i+1), Priority: r.IntN(5)}
		if i > 0 && r.Float64() < DepShare {
			k := 1 + r.IntN(2)
			seen := map[int]bool{}
			for j := 0; j < k; j++ {
				d := i - 1 - r.IntN(min(i, 50))
				if !seen[d] {
					seen[d] = true
					s.Deps = append(s.Deps, out[d].ID)
				}
			}
		}
		out[i] = s
	}
	return out
}

// issueBody is a ~400-byte description so issue payloads resemble real ones.
var issueBody = "Load-test issue. " +
	"Implement the change described here, run the tests, and report the outcome through complete or fail. " +
	"This text only pads the record to a realistic size: real beads issues carry a description, design notes " +
	"and acceptance criteria of a few hundred bytes, and the push path copies those bytes into every assign frame."

// WriteJSONL writes specs as open beads task records (classic field set) to w.
func WriteJSONL(w io.Writer, specs []IssueSpec, now time.Time) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, s := range specs {
		is := beads.Issue{ID: s.ID, Title: "load test " + s.ID, Description: issueBody, Status: "open",
			Priority: s.Priority, IssueType: "task", CreatedAt: now, UpdatedAt: now}
		for _, d := range s.Deps {
			is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: s.ID, DependsOnID: d, Type: "blocks",
				CreatedAt: now, Metadata: "{}"})
		}
		if err := enc.Encode(is); err != nil {
			return fmt.Errorf("encode issue %s: %w", s.ID, err)
		}
	}
	return bw.Flush()
}
