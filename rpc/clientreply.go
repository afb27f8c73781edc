package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// The client's own calls are matched to their replies here, not by jsonrpc2: the library decodes a
// reply three times (its envelope, with the result into interface{} maps; the Response; the result
// into the caller's value), each pass with encoding/json's validation, and allocates a request, a
// call and an envelope per call. Call writes its request itself and waits on a slot; the reader
// checks each reply frame once and hands the result bytes to the slot; Call decodes them once.
// jsonrpc2 still owns the connection (its read loop, close and disconnect notice) and gets every
// frame the reader does not recognise, as before.

// replySlots are the client's calls in flight, by the id each was sent with.
type replySlots struct {
	mu   sync.Mutex
	next uint64 // last id given; ids start at 1
	m    map[uint64]*replySlot
}

// replySlot receives the answer to one call.
type replySlot struct {
	done   chan struct{} // closed once result or err is set
	result []byte
	err    *jsonrpc2.Error
}

// open registers a new call and returns its id.
func (r *replySlots) open() (uint64, *replySlot) {
	s := &replySlot{done: make(chan struct{})}
	r.mu.Lock()
	r.next++
	id := r.next
	if r.m == nil {
		r.m = make(map[uint64]*replySlot)
	}
	r.m[id] = s
	r.mu.Unlock()
	return id, s
}

// drop forgets a call that gave up waiting.
func (r *replySlots) drop(id uint64) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// deliver answers call id with a copy of result, or with e; false if no such call waits.
func (r *replySlots) deliver(id uint64, result []byte, e *jsonrpc2.Error) bool {
	r.mu.Lock()
	s := r.m[id]
	delete(r.m, id)
	r.mu.Unlock()
	if s == nil {
		return false
	}
	if e != nil {
		s.err = e
	} else {
		s.result = bytes.Clone(result)
	}
	close(s.done)
	return true
}

// call sends one request and waits for its reply, the connection's end or ctx.
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	var p []byte
	if params != nil {
		var err error
		if p, err = json.Marshal(params); err != nil {
			return err
		}
	}
	select {
	case <-c.jc.DisconnectNotify():
		return c.closedErr()
	default:
	}
	id, slot := c.slots.open()
	if err := c.st.request(id, method, p); err != nil {
		c.slots.drop(id)
		// The server may have refused the message before it was all written (over the size cap: it
		// answers and closes without reading the rest, so the write fails): that answer is there to
		// be read, and the reader's end follows it.
		t := time.NewTimer(refusalWait)
		defer t.Stop()
		select {
		case <-c.jc.DisconnectNotify():
			return c.closedErr()
		case <-t.C:
		case <-ctx.Done():
		}
		return err
	}
	select {
	case <-slot.done:
	case <-ctx.Done():
		c.slots.drop(id)
		return ctx.Err()
	case <-c.jc.DisconnectNotify():
		select {
		case <-slot.done: // answered just before the end
		default:
			c.slots.drop(id)
			return c.closedErr()
		}
	}
	if slot.err != nil {
		return slot.err
	}
	if result == nil {
		return nil
	}
	return decodeResult(slot.result, result)
}

// refusalWait bounds how long a call whose request could not be written waits for the connection's
// end, to read the server's reason (Client.refusal).
const refusalWait = time.Second

// closedErr is what a call ended by the connection's close returns: the server's refusal that came
// before the close, if one did, else jsonrpc2.ErrClosed.
func (c *Client) closedErr() error {
	if e := c.refusal.Load(); e != nil {
		return e
	}
	return jsonrpc2.ErrClosed
}

// takeRefusal keeps an error reply with id null that ends the connection (-32008 too large, -32009
// busy: the server closes it next) for the calls the close ends; false for any other frame. Without
// it the reply went to jsonrpc2, which drops a response no call waits for, and the calls said only
// "connection closed".
func (c *Client) takeRefusal(frame []byte) bool {
	var r struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
		Error  *jsonrpc2.Error `json:"error"`
	}
	if len(frame) == 0 || frame[0] != '{' || json.Unmarshal(frame, &r) != nil || r.Method != nil || r.Error == nil ||
		string(r.ID) != "null" || (r.Error.Code != int64(ErrorCode(coord.ETooLarge)) && r.Error.Code != int64(ErrorCode(coord.EBusy))) {
		return false
	}
	c.refusal.CompareAndSwap(nil, r.Error)
	return true
}

// takeReply hands a reply frame to the call waiting for it; false if the frame is not a reply the
// client recognises (it then goes to jsonrpc2, as before). A reply for a call that no longer waits
// is dropped, as the library drops it.
func (c *Client) takeReply(frame []byte) bool {
	id, result, errRaw, ok := parseReply(frame)
	if !ok {
		if isRequest(frame) {
			return false // a notification or request for the library (cancel, event, ping): not parsed twice more
		}
		id, result, errRaw, ok = parseReplySlow(frame)
		if !ok {
			return c.takeRefusal(frame)
		}
	}
	var e *jsonrpc2.Error
	if errRaw != nil {
		e = &jsonrpc2.Error{}
		if json.Unmarshal(errRaw, e) != nil {
			return false
		}
	}
	c.slots.deliver(id, result, e)
	return true
}

// isRequest reports whether frame is one JSON object with a method member as jsonrpc2 reads it: a
// request or a notification, never a reply.
func isRequest(frame []byte) bool {
	var w wireMessage
	return scanEnvelope(frame, &w) == envObject && w.Method != nil
}

// parseReply recognises a response with a numeric id in canonical form in one frame, read as jsonrpc2
// reads it (scanEnvelope: the last of a repeated member wins), and returns the id and the bytes of
// its result or its error (exactly one is set; an error wins, as in the library). It returns false
// for anything else: requests, batches, string or non-integer ids, keys the library would match
// case-insensitively (parseReplySlow reads those), malformed frames.
func parseReply(frame []byte) (id uint64, result, errRaw []byte, ok bool) {
	var w wireMessage
	if scanEnvelope(frame, &w) != envObject || w.Method != nil {
		return 0, nil, nil, false
	}
	if w.Error != nil && string(w.Error) != "null" {
		if w.Error[0] != '{' {
			return 0, nil, nil, false
		}
		errRaw = w.Error
	} else if w.Result != nil {
		result = w.Result
	} else {
		return 0, nil, nil, false
	}
	id, ok = parseReplyID(w.ID)
	return id, result, errRaw, ok
}

// parseReplyID reads a canonical unsigned integer id (digits, no leading zero).
func parseReplyID(raw []byte) (uint64, bool) {
	if len(raw) == 0 || len(raw) > 20 || (len(raw) > 1 && raw[0] == '0') {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil
}

// parseReplySlow is parseReply for the replies it declines, read as jsonrpc2 reads them (members
// matched case-insensitively, the last of a repeated member wins): a response with an integer id.
func parseReplySlow(frame []byte) (id uint64, result, errRaw []byte, ok bool) {
	if len(frame) == 0 || frame[0] == '[' {
		return 0, nil, nil, false
	}
	var r struct {
		ID     *jsonrpc2.ID     `json:"id"`
		Method *string          `json:"method"`
		Result *json.RawMessage `json:"result"`
		Error  *json.RawMessage `json:"error"`
	}
	r.Result = &json.RawMessage{} // stays empty when absent; set to nil by an explicit null
	if json.Unmarshal(frame, &r) != nil || r.Method != nil || r.ID == nil || r.ID.IsString {
		return 0, nil, nil, false
	}
	switch {
	case r.Error != nil && len(*r.Error) > 0 && string(*r.Error) != "null":
		return r.ID.Num, nil, *r.Error, true
	case r.Result == nil:
		return r.ID.Num, []byte("null"), nil, true
	case len(*r.Result) > 0:
		return r.ID.Num, *r.Result, nil, true
	}
	return 0, nil, nil, false
}
