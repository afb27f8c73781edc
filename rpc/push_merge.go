package rpc

import (
	"strconv"

	"github.com/gastown/gtc/coord"
)

// PushMerge sends a merge request (server → refinery, method "merge") to one session without
// blocking. The refinery replies {accepted} and later reports with merge.report; the reply itself
// is not needed (a refinery that never reports loses the slot at its deadline).
func (s *Server) PushMerge(worker string, session uint64, m coord.MergeRequest) error {
	c, err := s.session(session, worker)
	if err != nil {
		return err
	}
	id := `"m` + strconv.FormatUint(s.nextPush.Add(1), 10) + `"`
	if !c.enqueue(outItem{body: encodeRequest([]byte(id), "merge", mustJSON(MergePushParams{Request: m}))}, false) {
		return coord.Errorf(coord.EBusy, "refinery %q is not reading; disconnected", worker)
	}
	return nil
}
