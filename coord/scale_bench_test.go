package coord

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Scale benchmarks: each iteration runs one whole workload of size n (run with -benchtime 1x); the
// ratio between the two sizes shows how the cost grows.

var scaleSizes = []int{2500, 10000}

// BenchmarkScaleChainCreate creates a chain of n issues through the protocol, each blocked by the one
// before (the cycle check runs on every create).
func BenchmarkScaleChainCreate(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				c := newCore(testCfg(), nil, t0)
				for i := range n {
					is := iss(fmt.Sprintf("ch-%06d", i), 2)
					if i > 0 {
						withDep(fmt.Sprintf("ch-%06d", i-1), "blocks")(&is)
					}
					if err := c.putIssues(t0, []IssuePut{{Issue: is, Create: true}}); err != nil {
						b.Fatal(err)
					}
					c.take()
				}
			}
		})
	}
}

// BenchmarkScaleFilteredMiss: n ready issues, one unfiltered worker taking them one by one (m times:
// dispatch, complete) next to a worker whose prefix filter matches none of them: idle and pushable
// (push), with a parked claim (parked), or claiming without wait before every dispatch (claim).
func BenchmarkScaleFilteredMiss(b *testing.B) {
	const m = 100
	none := Filters{Prefixes: []string{"zz-"}}
	for _, mode := range []string{"push", "parked", "claim"} {
		for _, n := range []int{10000, 40000} {
			b.Run(fmt.Sprint(mode, "/", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					c := newCore(testCfg(), nil, t0)
					ps := make([]IssuePut, 0, n)
					for i := range n {
						ps = append(ps, puts(iss(fmt.Sprintf("bd-%06d", i), i%5))...)
					}
					if err := c.putIssues(t0, ps); err != nil {
						b.Fatal(err)
					}
					role := "worker"
					if mode != "push" {
						role = "client"
					}
					if _, err := c.connect(t0, Hello{Name: "idle", Role: role, Filters: none}, 2); err != nil {
						b.Fatal(err)
					}
					if mode != "push" {
						wait := 24 * time.Hour
						if mode == "claim" {
							wait = 0
						}
						if _, _, err := c.claim(t0, "idle", nil, wait); err != nil {
							b.Fatal(err)
						}
					}
					c.dispatch(t0)
					c.take()
					if _, err := c.connect(t0, Hello{Name: "a"}, 1); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					now := t0
					for range m {
						now = now.Add(time.Millisecond)
						if mode == "claim" {
							if a, _, err := c.claim(now, "idle", nil, 0); err != nil || a != nil {
								b.Fatal(a, err)
							}
						}
						c.dispatch(now)
						_, ef := c.take()
						var l *Lease
						for _, e := range ef {
							if p, ok := e.(*pushEffect); ok {
								l = &p.A.Lease
							}
						}
						if l == nil {
							b.Fatal("no push")
						}
						if _, err := c.complete(now, "a", l.ID, l.Epoch, SessionResult{}); err != nil {
							b.Fatal(err)
						}
						c.take()
					}
				}
			})
		}
	}
}

// drainAll claims and completes n ready issues, one at a time, as a client worker.
func drainAll(b *testing.B, c *core, n int) {
	now := t0
	if _, err := c.connect(now, Hello{Name: "w", Role: "client"}, 1); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		now = now.Add(time.Millisecond)
		a, _, err := c.claim(now, "w", &Filters{}, 0)
		if err != nil || a == nil {
			b.Fatalf("claim %d: %v %v", i, a, err)
		}
		if _, err := c.complete(now, "w", a.Lease.ID, a.Lease.Epoch, SessionResult{}); err != nil {
			b.Fatal(err)
		}
		c.take()
	}
}

// BenchmarkScaleFanInDrain: one issue blocked by n others (blocks edges), every blocker claimed and
// completed, in the order of the edges (inorder) or in a random one (shuffled).
func BenchmarkScaleFanInDrain(b *testing.B) {
	for _, order := range []string{"inorder", "shuffled"} {
		for _, n := range scaleSizes {
			b.Run(fmt.Sprint(order, "/", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					c := newCore(testCfg(), nil, t0)
					var ps []IssuePut
					rel := iss("release", 2)
					at := make([]int, n)
					for i := range at {
						at[i] = i
					}
					if order == "shuffled" {
						rand.New(rand.NewPCG(1, 1)).Shuffle(n, func(i, j int) { at[i], at[j] = at[j], at[i] })
					}
					for i := range n {
						id := fmt.Sprintf("t-%06d", i)
						ps = append(ps, puts(iss(id, 2, withCreated(t0.Add(time.Duration(at[i])*time.Second))))...)
						withDep(id, "blocks")(&rel)
					}
					ps = append(ps, puts(rel)...)
					if err := c.putIssues(t0, ps); err != nil {
						b.Fatal(err)
					}
					c.take()
					b.StartTimer()
					drainAll(b, c, n)
				}
			})
		}
	}
}

// epicPuts returns an epic and n parent-child children of it (imported).
func epicPuts(n int) []IssuePut {
	ps := puts(iss("epic", 2, withType("epic"), withStatus("in_progress")))
	for i := range n {
		ps = append(ps, puts(iss(fmt.Sprintf("c-%06d", i), 2, withCreated(t0.Add(time.Duration(i)*time.Second)),
			withDep("epic", "parent-child")))...)
	}
	return ps
}

// BenchmarkScaleEpicChildren: an epic with n children: every child claimed and completed (drain; gated:
// with an issue waiting for the epic's children, a waits-for gate), every child edited through the
// protocol (edit: a label added), or the epic and its children imported in the syncer's chunks of 512
// (import).
func BenchmarkScaleEpicChildren(b *testing.B) {
	for _, mode := range []string{"drain", "gated", "edit", "import"} {
		for _, n := range scaleSizes {
			b.Run(fmt.Sprint(mode, "/", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					c := newCore(testCfg(), nil, t0)
					ps := epicPuts(n)
					if mode == "gated" {
						ps = append(ps, puts(iss("gate", 2, withDep("epic", "waits-for")))...)
					}
					if mode != "import" {
						if err := c.putIssues(t0, ps); err != nil {
							b.Fatal(err)
						}
						c.take()
					}
					b.StartTimer()
					switch mode {
					case "drain", "gated":
						drainAll(b, c, n)
					case "edit":
						for _, p := range ps[1:] {
							p.Issue.Labels, p.FromImport, p.KeepState = []string{"x"}, false, true
							if err := c.putIssues(t0, []IssuePut{p}); err != nil {
								b.Fatal(err)
							}
							c.take()
						}
					case "import":
						for len(ps) > 0 {
							k := min(512, len(ps))
							if err := c.putIssues(t0, ps[:k]); err != nil {
								b.Fatal(err)
							}
							c.take()
							ps = ps[k:]
						}
					}
				}
			})
		}
	}
}

// BenchmarkScaleWaiters: n workers, each with a parked claim; then every one disconnects (a network
// blip), every wait runs out, or n issues arrive and a dispatch serves every claim.
func BenchmarkScaleWaiters(b *testing.B) {
	for _, mode := range []string{"disconnect", "timeout", "served"} {
		for _, n := range scaleSizes {
			b.Run(fmt.Sprint(mode, "/", n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					c := newCore(testCfg(), nil, t0)
					for i := range n {
						name := fmt.Sprintf("w%05d", i)
						if _, err := c.connect(t0, Hello{Name: name, Role: "client"}, uint64(i+1)); err != nil {
							b.Fatal(err)
						}
						if _, _, err := c.claim(t0, name, &Filters{}, time.Minute); err != nil {
							b.Fatal(err)
						}
					}
					if mode == "served" {
						ps := make([]IssuePut, 0, n)
						for i := range n {
							ps = append(ps, puts(iss(fmt.Sprintf("bd-%06d", i), 2))...)
						}
						if err := c.putIssues(t0, ps); err != nil {
							b.Fatal(err)
						}
					}
					c.take()
					b.StartTimer()
					switch mode {
					case "disconnect":
						for i := range n {
							c.disconnect(t0, fmt.Sprintf("w%05d", i), uint64(i+1))
						}
					case "timeout":
						c.tick(t0.Add(2 * time.Minute))
					case "served":
						c.dispatch(t0)
					}
					_, ef := c.take()
					if len(ef) != n {
						b.Fatalf("%d claims answered, want %d", len(ef), n)
					}
				}
			})
		}
	}
}

// BenchmarkScaleFilteredDeep: n ready issues no filter of the workers matches, ranked above 2,000 that
// their prefix filter does; 50 such workers are pushed work and complete it, m times (dispatch,
// complete). An operator's trial had 200 filtered agents behind 45,000 ready issues of other prefixes.
func BenchmarkScaleFilteredDeep(b *testing.B) {
	const m, workers, deep = 200, 50, 2000
	for _, n := range []int{10000, 40000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				c := newCore(testCfg(), nil, t0)
				ps := make([]IssuePut, 0, n+deep)
				for i := range n {
					ps = append(ps, puts(iss(fmt.Sprintf("bd-%06d", i), 1))...)
				}
				for i := range deep {
					ps = append(ps, puts(iss(fmt.Sprintf("lt-%06d", i), 3))...)
				}
				if err := c.putIssues(t0, ps); err != nil {
					b.Fatal(err)
				}
				c.take()
				for w := range workers {
					if _, err := c.connect(t0, Hello{Name: fmt.Sprint("w", w), Filters: Filters{Prefixes: []string{"lt-"}}}, uint64(w+1)); err != nil {
						b.Fatal(err)
					}
				}
				now := t0
				c.dispatch(now)
				_, ef := c.take()
				b.StartTimer()
				for range m {
					now = now.Add(time.Millisecond)
					var l *Lease
					for _, e := range ef {
						if p, ok := e.(*pushEffect); ok {
							l = &p.A.Lease
							break
						}
					}
					if l == nil {
						b.Fatal("no push")
					}
					if _, err := c.complete(now, l.Worker, l.ID, l.Epoch, SessionResult{}); err != nil {
						b.Fatal(err)
					}
					c.dispatch(now)
					_, ef = c.take()
				}
			}
		})
	}
}

// BenchmarkScaleConvoyImport: a convoy of n open issues and its tracking issue imported in the syncer's
// chunks of 512, as at a start: each open member's put checks whether the convoy's tracking issue must
// open again, which must not cost the whole convoy per member.
func BenchmarkScaleConvoyImport(b *testing.B) {
	for _, status := range []string{"open", "closed"} {
		for _, n := range scaleSizes {
			b.Run(fmt.Sprint(status, "/", n), func(b *testing.B) { convoyImport(b, status, n) })
		}
	}
}

// convoyImport is BenchmarkScaleConvoyImport with n members of the given status (closed: a convoy
// completed before the start, its tracking issue closed too).
func convoyImport(b *testing.B, status string, n int) {
	for range b.N {
		b.StopTimer()
		c := newCore(testCfg(), nil, t0)
		ps := puts(iss("track", 2, withType(TypeConvoy), withLabels(ConvoyLabelPrefix+"big"), withStatus(status)))
		for i := range n {
			ps = append(ps, puts(iss(fmt.Sprintf("m-%05d", i), 2, withLabels(ConvoyLabelPrefix+"big"), withStatus(status)))...)
		}
		b.StartTimer()
		for len(ps) > 0 {
			k := min(512, len(ps))
			if err := c.putIssues(t0, ps[:k]); err != nil {
				b.Fatal(err)
			}
			c.take()
			ps = ps[k:]
		}
	}
}
