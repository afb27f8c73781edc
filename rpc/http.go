package rpc

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode"

	"github.com/gastown/gtc/coord"
)

// httpCollector gathers the replies of one HTTP request.
type httpCollector struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (h *httpCollector) add(b []byte) {
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

// HTTPHandler serves POST /rpc: one request or a batch per body, authorised by
// "Authorization: Bearer <token>". Answers 204 when nothing needs a reply. The optional
// X-Gtc-Worker header names the caller (idempotency keys are kept per name). hello, events.subscribe
// and the methods acting on a worker's leases (workerMethods) need a socket connection.
func (s *Server) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST a JSON-RPC request", http.StatusMethodNotAllowed)
			return
		}
		writeJSON := func(status int, body []byte) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(body)
			s.opts.Observer.Bytes("out", len(body))
		}
		scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") // the scheme is case-insensitive (RFC 9110)
		if !ok || !s.tokenOK(strings.TrimSpace(tok)) {
			s.opts.Observer.RPC("", ErrorCode(coord.EUnauthorized), 0)
			writeJSON(http.StatusUnauthorized, encodeError(nullID, toWireError(coord.Errorf(coord.EUnauthorized, "missing or wrong bearer token"))))
			return
		}
		worker := r.Header.Get("X-Gtc-Worker")
		if len(worker) > MaxNameBytes || strings.ContainsFunc(worker, unicode.IsControl) {
			// the rule hello applies to a name: it goes into idempotency keys, the audit log's actor and logs
			writeJSON(http.StatusBadRequest, encodeError(nullID, toWireError(coord.Errorf(coord.EInvalid,
				"invalid X-Gtc-Worker header: at most %d bytes, no control characters", MaxNameBytes))))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxMessageBytes)))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.opts.Observer.RPC("", ErrorCode(coord.ETooLarge), 0)
				writeJSON(http.StatusRequestEntityTooLarge, encodeError(nullID, toWireError(coord.Errorf(coord.ETooLarge,
					"message over the size cap of %d bytes", s.opts.MaxMessageBytes))))
				return
			}
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.opts.Observer.Bytes("in", len(body))
		c := s.newConn(r.Context(), nil, TransportHTTP)
		defer c.cancel()
		c.http = &httpCollector{}
		c.pool.inline = true
		c.sess.Remote = r.RemoteAddr
		c.sess.Worker = worker
		c.sess.Role = "client"
		c.authed.Store(true)
		c.handleFrame(body)
		switch len(c.http.bodies) {
		case 0:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(http.StatusOK, c.http.bodies[0])
		}
	})
}
