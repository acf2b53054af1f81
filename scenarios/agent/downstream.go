package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DownstreamPort is where the downstream fake listens inside the agent; the "downstream" link
// proxies the app's DOWNSTREAM_URL to it.
const DownstreamPort = 8082

// FencedPrefix marks the downstream's fenced storage: a request whose path starts with it must
// carry a Fencing-Token header, and is refused with 409 when the token is lower than the highest
// one accepted before (Kleppmann's fencing tokens). Tokens equal to the highest are accepted: one
// holder writes several times under its token.
const FencedPrefix = "/fenced/"

// FencingHeader carries a fencing token to the downstream's fenced storage.
const FencingHeader = "Fencing-Token"

// Call is one request the downstream fake received: the ground truth of what the app did.
type Call struct {
	Seq    int               `json:"seq"`
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  string            `json:"query,omitempty"`
	Header map[string]string `json:"header,omitempty"` // the request's headers, first value each, up to MaxHeaderKept bytes
	Body   string            `json:"body,omitempty"`   // the first MaxBodyKept bytes
	// BodyBytes is the body's original size, when it was longer than what Body keeps.
	BodyBytes int       `json:"body_bytes,omitempty"`
	Start     time.Time `json:"start"`  // when the request arrived
	End       time.Time `json:"end"`    // when the answer was sent (zero while in flight)
	Status    int       `json:"status"` // what the downstream answered; 0 when the caller gave up first
	// Token is the fencing token of a fenced call, Accepted whether the storage took it.
	Token    int64 `json:"token,omitempty"`
	Accepted bool  `json:"accepted,omitempty"`
}

// DownstreamBehaviour is sent to POST /downstream/behaviour; it applies to every request whose
// path starts with PathPrefix ("" means every path) until changed or reset.
type DownstreamBehaviour struct {
	PathPrefix string `json:"path_prefix,omitempty"`
	// Status is the answer's status code; 0 means 200.
	Status int `json:"status,omitempty"`
	// LatencyMS delays every answer.
	LatencyMS int64 `json:"latency_ms,omitempty"`
	// Hang holds requests until the caller gives up (bounded by a minute).
	Hang bool `json:"hang,omitempty"`
}

// Downstream is a generic downstream service for the app to call at DOWNSTREAM_URL. It answers
// every path with JSON {"seq": N, "path": "...", "version": V}, where V counts the calls to that
// path so far, records every call, and behaves as the harness says (errors, latency, hangs).
// Paths under FencedPrefix are a fenced store.
type Downstream struct {
	mu        sync.Mutex
	calls     []Call
	perPath   map[string]int
	behaviour []DownstreamBehaviour
	maxToken  int64
	stop      chan struct{}
	refused   int // calls refused because the record was full
	kept      int // bytes of bodies and headers kept, at most MaxKeptBytes
	overflow  overflows
	// events records each call for the timeline; nil records nothing.
	events *EventLog
}

// NewDownstream returns a downstream with no calls. Close releases hanging requests.
func NewDownstream() *Downstream {
	return &Downstream{perPath: map[string]int{}, stop: make(chan struct{})}
}

// Close releases every hanging request.
func (d *Downstream) Close() { close(d.stop) }

// Behave replaces the behaviour for b.PathPrefix; a zero behaviour for a prefix removes it.
func (d *Downstream) Behave(b DownstreamBehaviour) error {
	if b.Status != 0 && (b.Status < 200 || b.Status > 599) {
		return fmt.Errorf("status %d is not an HTTP status", b.Status)
	}
	if b.LatencyMS < 0 || b.LatencyMS > 60_000 {
		return fmt.Errorf("latency_ms %d out of range 0..60000", b.LatencyMS)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var kept []DownstreamBehaviour
	for _, old := range d.behaviour {
		if old.PathPrefix != b.PathPrefix {
			kept = append(kept, old)
		}
	}
	if b != (DownstreamBehaviour{PathPrefix: b.PathPrefix}) {
		kept = append(kept, b)
	}
	d.behaviour = kept
	return nil
}

// ClearBehaviour makes every path answer normally again; the record of calls stays.
func (d *Downstream) ClearBehaviour() {
	d.mu.Lock()
	d.behaviour = nil
	d.mu.Unlock()
}

// Calls returns the calls with Seq > since, in arrival order.
func (d *Downstream) Calls(since int) []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Call
	for _, c := range d.calls {
		if c.Seq > since {
			out = append(out, c)
		}
	}
	return out
}

// Overflows are the bounds the app went beyond since the last ClearOverflows.
func (d *Downstream) Overflows() []Overflow { return d.overflow.list() }

// ClearOverflows forgets the overflows recorded so far; the record of calls stays.
func (d *Downstream) ClearOverflows() { d.overflow.clear() }

// LastSeq is the number of the latest call received (0 before the first): a scenario counts the
// calls after it.
func (d *Downstream) LastSeq() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// behaviourFor picks the longest matching prefix. Callers hold mu.
func (d *Downstream) behaviourFor(path string) DownstreamBehaviour {
	var best DownstreamBehaviour
	found := false
	for _, b := range d.behaviour {
		if strings.HasPrefix(path, b.PathPrefix) && (!found || len(b.PathPrefix) > len(best.PathPrefix)) {
			best, found = b, true
		}
	}
	return best
}

// ServeHTTP answers one call, and records it with its answer (and its fencing token) for the
// timeline.
func (d *Downstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	what := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		what += "?" + r.URL.RawQuery
	}
	d.events.recordCall(w, r, "downstream", what, func(w http.ResponseWriter, r *http.Request) string {
		d.serve(w, r)
		if t := r.Header.Get(FencingHeader); t != "" {
			return cut("fencing token " + t)
		}
		return ""
	})
}

func (d *Downstream) serve(w http.ResponseWriter, r *http.Request) {
	if n := len(r.URL.RequestURI()); n > MaxURIBytes {
		d.overflow.note(OverflowURI, n)
		writeJSON(w, http.StatusRequestURITooLong, map[string]string{"error": fmt.Sprintf("the path and query are %d bytes; at most %d are accepted", n, MaxURIBytes)})
		return
	}
	body, size, err := readKept(http.MaxBytesReader(w, r.Body, MaxDownstreamBody))
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			d.overflow.note(OverflowCallBody, MaxDownstreamBody)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("a body is at most %d KiB", MaxDownstreamBody>>10)})
			return
		}
		// The caller went away mid-body: what arrived is still recorded below.
	}
	hdr := keptHeaders(r.Header)
	keep := len(body)
	for k, v := range hdr {
		keep += len(k) + len(v)
	}
	d.mu.Lock()
	if d.kept+keep > MaxKeptBytes {
		d.overflow.note(OverflowKept, d.kept+keep)
		d.mu.Unlock()
		writeJSON(w, http.StatusInsufficientStorage, map[string]string{"error": fmt.Sprintf("the downstream keeps at most %d MiB of headers and bodies in one grading", MaxKeptBytes>>20)})
		return
	}
	if len(d.calls) >= MaxCalls {
		d.refused++
		d.overflow.note(OverflowCalls, MaxCalls+d.refused)
		d.mu.Unlock()
		writeJSON(w, http.StatusInsufficientStorage, map[string]string{"error": fmt.Sprintf("the downstream takes at most %d calls in one grading", MaxCalls)})
		return
	}
	d.perPath[r.URL.Path]++ // a path is new only with a call, so MaxCalls bounds this map too
	d.kept += keep
	c := Call{Seq: len(d.calls) + 1, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: hdr,
		Body: string(body), Start: time.Now()}
	if size > len(body) {
		c.BodyBytes = size
	}
	version := d.perPath[r.URL.Path]
	b := d.behaviourFor(r.URL.Path)
	d.calls = append(d.calls, c)
	idx := len(d.calls) - 1
	d.mu.Unlock()

	if b.LatencyMS > 0 {
		select {
		case <-time.After(time.Duration(b.LatencyMS) * time.Millisecond):
		case <-r.Context().Done():
			d.finish(idx, 0, 0, false)
			return
		case <-d.stop:
			return
		}
	}
	if b.Hang {
		select {
		case <-r.Context().Done():
		case <-time.After(maxHang):
		case <-d.stop:
		}
		d.finish(idx, 0, 0, false)
		return
	}
	status := b.Status
	if status == 0 {
		status = http.StatusOK
	}
	if strings.HasPrefix(r.URL.Path, FencedPrefix) && status < 300 {
		token, err := strconv.ParseInt(r.Header.Get(FencingHeader), 10, 64)
		if err != nil {
			d.finish(idx, http.StatusBadRequest, 0, false)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a " + FencingHeader + " header with an integer token is required"})
			return
		}
		d.mu.Lock()
		accepted := token >= d.maxToken
		if accepted {
			d.maxToken = token
		}
		highest := d.maxToken
		d.mu.Unlock()
		if !accepted {
			d.finish(idx, http.StatusConflict, token, false)
			writeJSON(w, http.StatusConflict, map[string]any{"error": "stale fencing token", "token": token, "highest": highest})
			return
		}
		d.finish(idx, status, token, true)
		writeJSON(w, status, map[string]any{"seq": idx + 1, "path": r.URL.Path, "version": version, "token": token})
		return
	}
	d.finish(idx, status, 0, false)
	if status >= 300 {
		writeJSON(w, status, map[string]any{"error": "downstream failure (injected)", "seq": idx + 1})
		return
	}
	writeJSON(w, status, map[string]any{"seq": idx + 1, "path": r.URL.Path, "version": version})
}

// readKept reads a body, keeping its first MaxBodyKept bytes and counting the rest.
func readKept(r io.Reader) (kept []byte, size int, err error) {
	kept, err = io.ReadAll(io.LimitReader(r, MaxBodyKept))
	if err != nil {
		return kept, len(kept), err
	}
	rest, err := io.Copy(io.Discard, r)
	return kept, len(kept) + int(rest), err
}

// keptHeaders is the first value of each header, in name order, up to MaxHeaderKept bytes.
func keptHeaders(h http.Header) map[string]string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]string{}
	left := MaxHeaderKept
	for _, k := range names {
		v := h[k]
		if len(v) == 0 || len(k)+len(v[0]) > left {
			continue
		}
		out[k] = v[0]
		left -= len(k) + len(v[0])
	}
	return out
}

func (d *Downstream) finish(idx, status int, token int64, accepted bool) {
	d.mu.Lock()
	c := &d.calls[idx]
	c.End, c.Status, c.Token, c.Accepted = time.Now(), status, token, accepted
	d.mu.Unlock()
}

// downstreamRoutes adds the downstream's control routes to mux.
func (s *Server) downstreamRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /downstream/behaviour", s.auth(func(w http.ResponseWriter, r *http.Request) {
		var b DownstreamBehaviour
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.downstream.Behave(b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /downstream/last", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"seq": s.downstream.LastSeq()})
	}))
	mux.HandleFunc("GET /downstream/calls", s.auth(func(w http.ResponseWriter, r *http.Request) {
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		writeJSONArray(w, s.downstream.Calls(since))
	}))
}
