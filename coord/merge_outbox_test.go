package coord

// PushMerge and CancelMerge let the internal test outboxes satisfy Outbox; merge pushes and cancels
// are tested in merge_test.go.
func (o *recOutbox) PushMerge(string, uint64, MergeRequest)   {}
func (o *recOutbox) CancelMerge(string, uint64, MergeRequest) {}

func (chanOutbox) PushMerge(string, uint64, MergeRequest)   {}
func (chanOutbox) CancelMerge(string, uint64, MergeRequest) {}
