package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// EventKind says what an Event records.
type EventKind string

const (
	// EventRequest is one HTTP request and its answer: the harness's to the app, or the app's to
	// the provider or the downstream fake.
	EventRequest EventKind = "request"
	// EventFault is a fault or behaviour the harness set on a link or a fake.
	EventFault EventKind = "fault"
	// EventConnect is a connection the app opened through a link (Postgres, Redis), or failed to.
	EventConnect EventKind = "connect"
	// EventSignal is a signal sent to a service, EventRestart a service started again, EventPause
	// and EventUnpause a service frozen and thawed, EventExit a service's process seen exited.
	EventSignal  EventKind = "signal"
	EventRestart EventKind = "restart"
	EventPause   EventKind = "pause"
	EventUnpause EventKind = "unpause"
	EventExit    EventKind = "exit"
	// EventGap stands for events left out to keep the record bounded: Omitted says how many.
	EventGap EventKind = "gap"
)

// Event is one thing that happened during a scenario, for the timeline a learner reads when it
// fails. The agent and the harness record them alike; times are offsets on the recorder's own
// clock (the agent's since it started, the harness's since the scenario started) until the
// harness puts them on one clock.
type Event struct {
	At   time.Duration `json:"at"`            // when it happened (a request: when it was sent)
	End  time.Duration `json:"end,omitempty"` // a request: when the answer came; 0 for none
	Kind EventKind     `json:"kind"`
	From string        `json:"from,omitempty"` // "harness", "app", "app-2"; for a connection the client's address until the harness names it
	To   string        `json:"to,omitempty"`   // "app", "provider", "downstream", "postgres", "redis"
	What string        `json:"what,omitempty"` // "POST /v1/charges", "SIGKILL", "timeout"
	Key  string        `json:"key,omitempty"`  // the request's Idempotency-Key
	Body string        `json:"body,omitempty"` // the first MaxEventBody bytes of the request's body
	// Answer is the start of the answer's body, kept for the harness's requests to the app.
	Answer string `json:"answer,omitempty"`
	// Status is the answer's HTTP status; 0 when there was none (Note says why).
	Status int    `json:"status,omitempty"`
	Note   string `json:"note,omitempty"` // what else the learner needs: "charged ch_000010", "no answer within 3s"
	// Omitted is how many events an EventGap stands for.
	Omitted int `json:"omitted,omitempty"`
}

// MaxEventBody is how much of a request's body an Event keeps.
const MaxEventBody = 120

// CutBody keeps the start of a body for an Event, never splitting a character, and says when
// it cut.
func CutBody(b []byte) string { return cut(bytes.TrimSpace(b)) }

// cut keeps the first MaxEventBody bytes of s for an Event, never splitting a character, and
// says when it cut. What it keeps of a longer s is a copy: the record holds no app's megabyte.
func cut[T ~string | ~[]byte](s T) string {
	if len(s) <= MaxEventBody {
		return string(s)
	}
	end := MaxEventBody
	for end > 0 && s[end]&0xC0 == 0x80 {
		end--
	}
	return string(s[:end]) + "…"
}

// Bounds of an EventLog: the first EventHead events since the last Reset and the latest
// EventTail after them. Thousands of requests in one scenario keep their beginning and their
// end; the middle is counted.
const (
	EventHead = 200
	EventTail = 400
)

// EventLog records Events within a fixed bound at a small cost per event (a lock and a copy):
// the first EventHead since Reset, then a ring of the latest EventTail. It is safe for
// concurrent use.
type EventLog struct {
	mu    sync.Mutex
	base  time.Time // the zero of At; monotonic
	head  []Event
	tail  []Event // ring, EventTail slots once full
	added int     // events added since the log was made: ids are never reused
	first int     // the id of the first event since the last Reset
}

// NewEventLog returns an empty log whose clock starts now.
func NewEventLog() *EventLog {
	return &EventLog{base: time.Now(), head: make([]Event, 0, EventHead)}
}

// Reset forgets every event and, when restart is set, starts the clock again.
func (l *EventLog) Reset(restart bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if restart {
		l.base = time.Now()
	}
	l.head, l.tail, l.first = l.head[:0], l.tail[:0], l.added
}

// Since is the log's clock: the time since its zero.
func (l *EventLog) Since() time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.base)
}

// Add records e, stamped now unless e.At is set, and returns its id for Finish. A nil log
// records nothing (a fake used on its own, in tests).
func (l *EventLog) Add(e Event) int {
	if l == nil {
		return -1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.At == 0 {
		e.At = time.Since(l.base)
	}
	id := l.added
	l.added++
	if n := id - l.first; n < EventHead {
		l.head = append(l.head, e)
	} else if len(l.tail) < EventTail {
		l.tail = append(l.tail, e)
	} else {
		l.tail[(n-EventHead)%EventTail] = e
	}
	return id
}

// Finish completes the request event id with its answer: End is stamped now and set fills in
// the rest (status, note). An event the bound already dropped is left alone, and so is one
// added before the last Reset: a request of an earlier scenario (a hidden one, maybe) answered
// during this one is no part of this one's timeline.
func (l *EventLog) Finish(id int, set func(e *Event)) {
	if l == nil || id < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var e *Event
	switch n := id - l.first; {
	case n < 0:
		return // added before the last Reset
	case n < len(l.head):
		e = &l.head[n]
	case n >= EventHead && id >= l.added-EventTail:
		e = &l.tail[(n-EventHead)%EventTail]
	default:
		return
	}
	e.End = time.Since(l.base)
	set(e)
}

// Events returns what the log kept in the order events were added, with an EventGap where it
// left events out.
func (l *EventLog) Events() []Event {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(l.head)+len(l.tail)+1)
	out = append(out, l.head...)
	if dropped := l.added - l.first - len(l.head) - len(l.tail); dropped > 0 {
		at := l.head[len(l.head)-1].At
		out = append(out, Event{At: at, Kind: EventGap, Omitted: dropped})
	}
	if len(l.tail) < EventTail {
		return append(out, l.tail...)
	}
	first := (l.added - l.first - EventHead) % EventTail // the oldest slot of a full ring
	out = append(out, l.tail[first:]...)
	return append(out, l.tail[:first]...)
}

// EventsAnswer is what GET /events answers: the events since the last reset and the agent's
// clock when it answered, so that the harness can put them on its own.
type EventsAnswer struct {
	Now    time.Duration `json:"now"`
	Events []Event       `json:"events"`
}

// linkWatcher turns the fault proxies' log lines (zerolog JSON, one per Write) into events: a
// client accepted, or one whose upstream could not be reached. Toxiproxy has no other hook for
// them. Links going down and up are recorded as the faults that did it.
type linkWatcher struct{ log *EventLog }

func (w linkWatcher) Write(p []byte) (int, error) {
	var line struct {
		Name    string `json:"name"`
		Client  string `json:"client"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(p, &line); err != nil || line.Name == "" {
		return len(p), nil // not a proxy's line: nothing to record
	}
	host := line.Client
	if h, _, err := net.SplitHostPort(line.Client); err == nil {
		host = h
	}
	switch line.Message {
	case "Accepted client":
		w.log.Add(Event{Kind: EventConnect, From: host, To: line.Name, What: "connect"})
	case "Unable to open connection to upstream":
		w.log.Add(Event{Kind: EventConnect, From: host, To: line.Name, What: "connect", Note: "the link could not reach " + line.Name})
	}
	return len(p), nil
}

// recordCall serves the app's call r to the fake named to, and records it with its answer: what
// it asked, its Idempotency-Key, the start of its body, the status, and what serve says of it
// (a charge made, a fault). A nil log only serves.
func (l *EventLog) recordCall(w http.ResponseWriter, r *http.Request, to, what string, serve func(http.ResponseWriter, *http.Request) (note string)) {
	if l == nil {
		serve(w, r)
		return
	}
	id := l.Add(Event{Kind: EventRequest, From: "app", To: to, What: cut(what), Key: cut(r.Header.Get("Idempotency-Key"))})
	body := &headBuffer{}
	r.Body = readCloser{io.TeeReader(r.Body, body), r.Body}
	sw := &statusWriter{ResponseWriter: w}
	note := serve(sw, r)
	l.Finish(id, func(e *Event) {
		e.Body, e.Status, e.Note = CutBody(body.b), sw.status, note
		if r.Context().Err() != nil {
			e.Status = 0
			e.Note = joinNote(e.Note, "the app hung up before the answer")
		}
	})
}

// headBuffer keeps the first bytes written to it (a body on its way to a decoder), enough for
// CutBody to say it cut.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := MaxEventBody + 1 - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// readCloser is a request body read through a tee, closed as the original.
type readCloser struct {
	io.Reader
	io.Closer
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// joinNote adds to an event's note.
func joinNote(note, more string) string {
	if note == "" {
		return more
	}
	return note + "; " + more
}

// faultEvent records a fault set on a link.
func faultEvent(link string, f Fault) Event {
	e := Event{Kind: EventFault, From: "harness", To: link, What: string(f.Kind)}
	if f.LatencyMS > 0 {
		e.Note = fmt.Sprintf("%d ms", f.LatencyMS)
		if f.JitterMS > 0 {
			e.Note += fmt.Sprintf(" ± %d ms", f.JitterMS)
		}
	}
	return e
}

// providerEvent records how the provider was told to answer.
func providerEvent(b ProviderBehaviour) Event {
	e := Event{Kind: EventFault, From: "harness", To: "provider", What: "normal"}
	if b.Mode != ModeNormal {
		e.What = fmt.Sprintf("%s ×%d", b.Mode, b.Count)
	}
	var notes []string
	if b.LatencyMS > 0 {
		notes = append(notes, fmt.Sprintf("latency %d ms", b.LatencyMS))
	}
	if b.HangMS > 0 {
		notes = append(notes, fmt.Sprintf("hang %d ms", b.HangMS))
	}
	e.Note = strings.Join(notes, ", ")
	return e
}

// downstreamEvent records how the downstream was told to answer a prefix.
func downstreamEvent(b DownstreamBehaviour) Event {
	prefix := b.PathPrefix
	if prefix == "" {
		prefix = "every path"
	}
	e := Event{Kind: EventFault, From: "harness", To: "downstream"}
	var what []string
	if b.Status != 0 {
		what = append(what, fmt.Sprintf("status %d", b.Status))
	}
	if b.LatencyMS > 0 {
		what = append(what, fmt.Sprintf("latency %d ms", b.LatencyMS))
	}
	if b.Hang {
		what = append(what, "hang")
	}
	if len(what) == 0 {
		what = append(what, "normal")
	}
	e.What = strings.Join(what, ", ")
	e.Note = cut("for " + prefix)
	return e
}
