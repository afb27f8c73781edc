package coord

import (
	"math"
	"time"
)

// An issue holds updated_at and started_at as Unix nanoseconds plus an index into the core's table of
// locations (9 bytes each instead of a 24-byte time.Time and a pointer to another), and its priority
// as an int32. A value that does not fit (a time outside 1678-2262, more than 255 distinct locations,
// a priority beyond int32) makes the issue keep all three exactly in its side struct (fSpill).
// What is lost is the monotonic clock reading of times taken from the clock: the core compares them
// only with times read back from the store or a file, which never carry one, so by wall clock anyway.

// noTime is the packed zero time (updated_at) or absent time (started_at).
const noTime = math.MinInt64

// spilled holds the exact values of an issue whose times or priority do not pack.
type spilled struct {
	updatedAt time.Time
	startedAt *time.Time
	priority  int
}

// locKey identifies a location for the table: time.UTC and time.Local by themselves, any other by the
// zone name and offset in effect (a parsed "-08:00" gets a fresh *Location each time).
type locKey struct {
	loc  *time.Location
	name string
	off  int
}

// locTable interns the locations of packed times; index 0 is UTC.
type locTable struct {
	locs []*time.Location
	idx  map[locKey]uint8
}

// pack returns t as Unix nanoseconds and a location index; false when it does not fit.
func (lt *locTable) pack(t time.Time) (int64, uint8, bool) {
	if t == (time.Time{}) {
		return noTime, 0, true // the zero time in UTC (in another zone it is kept exactly: spilled)
	}
	if s := t.Unix(); s <= math.MinInt64/int64(time.Second)+1 || s >= math.MaxInt64/int64(time.Second)-1 {
		return 0, 0, false
	}
	ns := t.UnixNano()
	loc := t.Location()
	if loc == time.UTC {
		return ns, 0, true
	}
	k := locKey{loc: loc}
	if loc != time.Local {
		k.loc = nil
		k.name, k.off = t.Zone()
	}
	if i, ok := lt.idx[k]; ok {
		return ns, i, true
	}
	if len(lt.locs) == 0 {
		lt.locs = []*time.Location{time.UTC}
	}
	if len(lt.locs) > math.MaxUint8 {
		return 0, 0, false
	}
	if lt.idx == nil {
		lt.idx = map[locKey]uint8{}
	}
	l := loc
	if k.loc == nil {
		l = time.FixedZone(k.name, k.off)
	}
	i := uint8(len(lt.locs))
	lt.locs = append(lt.locs, l)
	lt.idx[k] = i
	return ns, i, true
}

// unpack is the time pack gave ns and i for (the zero time for noTime).
func (lt *locTable) unpack(ns int64, i uint8) time.Time {
	if ns == noTime {
		return time.Time{}
	}
	if i == 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Unix(0, ns).In(lt.locs[i])
}

// setTimes sets the issue's updated_at, started_at (nil: none) and priority.
func (c *core) setTimes(it *issue, updated time.Time, started *time.Time, priority int) {
	un, ul, ok1 := c.locs.pack(updated)
	sn, sl, ok2 := int64(noTime), uint8(0), true
	if started != nil {
		sn, sl, ok2 = c.locs.pack(*started)
		ok2 = ok2 && sn != noTime // a started_at of the zero time is not "none"
	}
	ok3 := priority >= math.MinInt32 && priority <= math.MaxInt32
	if ok1 && ok2 && ok3 {
		it.upd, it.updLoc, it.started, it.startLoc, it.priority = un, ul, sn, sl, int32(priority)
		if it.flags&fSpill != 0 {
			it.flags &^= fSpill
			it.x.sp = nil
			it.trim()
		}
		return
	}
	it.flags |= fSpill
	it.priority = int32(max(math.MinInt32, min(math.MaxInt32, priority)))
	it.extra().sp = &spilled{updatedAt: updated, startedAt: started, priority: priority}
}

// updatedAt returns the issue's updated_at.
func (c *core) updatedAt(it *issue) time.Time {
	if it.flags&fSpill != 0 {
		return it.x.sp.updatedAt
	}
	return c.locs.unpack(it.upd, it.updLoc)
}

// startedAt returns the issue's started_at (nil: not started), a fresh copy.
func (c *core) startedAt(it *issue) *time.Time {
	if it.flags&fSpill != 0 {
		if p := it.x.sp.startedAt; p != nil {
			t := *p
			return &t
		}
		return nil
	}
	if it.started == noTime {
		return nil
	}
	t := c.locs.unpack(it.started, it.startLoc)
	return &t
}

// startedInto writes the issue's started_at to *t and reports whether it has one (startedAt without
// the copy on the heap).
func (c *core) startedInto(it *issue, t *time.Time) bool {
	if it.flags&fSpill != 0 {
		if p := it.x.sp.startedAt; p != nil {
			*t = *p
			return true
		}
		return false
	}
	if it.started == noTime {
		return false
	}
	*t = c.locs.unpack(it.started, it.startLoc)
	return true
}

// hasStarted says whether the issue has a started_at.
func (it *issue) hasStarted() bool {
	if it.flags&fSpill != 0 {
		return it.x.sp.startedAt != nil
	}
	return it.started != noTime
}

// prio returns the issue's priority.
func (it *issue) prio() int {
	if it.flags&fSpill != 0 {
		return it.x.sp.priority
	}
	return int(it.priority)
}

// touch sets updated_at to now.
func (c *core) touch(it *issue) {
	if it.flags&fSpill == 0 {
		if n, l, ok := c.locs.pack(c.now); ok {
			it.upd, it.updLoc = n, l
			return
		}
	}
	c.setTimes(it, c.now, c.startedAt(it), it.prio())
}

// markStarted sets started_at to t unless the issue has one.
func (c *core) markStarted(it *issue, t time.Time) {
	if it.hasStarted() {
		return
	}
	if it.flags&fSpill == 0 {
		if n, l, ok := c.locs.pack(t); ok && n != noTime {
			it.started, it.startLoc = n, l
			return
		}
	}
	st := t // only this path takes its address (a parameter would escape on every call)
	c.setTimes(it, c.updatedAt(it), &st, it.prio())
}
