package scenarios

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Timeline is what happened during one scenario, on the harness's clock (At and End are offsets
// from the scenario's start): the harness's requests and answers per replica, the app's calls to
// the provider and the downstream fake, its connections through the Postgres and Redis links,
// the faults injected, signals and restarts. It is bounded (MaxTimeline events); an
// agent.EventGap stands for what was left out.
type Timeline struct {
	Events []agent.Event `json:"events"`
	// Note says what the timeline lacks, e.g. the agent's side when it could not be read.
	Note string `json:"note,omitempty"`
}

// MaxTimeline bounds a Timeline: the first and the last MaxTimeline/2 events are kept, the
// middle is counted in a gap. A diagram longer than this is read by nobody.
const MaxTimeline = 80

// BeginTimeline starts a scenario's timeline: the harness's record and its clock start again.
// The grader calls it right after resetting the agent, whose record starts at the reset. A
// scenario of several rounds calls it again at each round's start, so that the timeline of a
// failed scenario is the failing round's (the agent's earlier events are left out too).
func (h *Harness) BeginTimeline() { h.events.Reset(true) }

// Timeline returns what the harness and the agent recorded since BeginTimeline, merged on the
// harness's clock. The harness records its own requests, the faults it sets through the agent
// and what it does to the services; the agent records the app's calls and connections, whose
// times are converted by clockOffset. An agent that cannot be read leaves the harness's side,
// a Note for the learner, and the error for the operator.
func (h *Harness) Timeline(ctx context.Context) (Timeline, error) {
	events := h.events.Events()
	var tl Timeline
	var readErr error
	if h.Agent != nil {
		offset, err := h.clockOffset(ctx)
		var ans agent.EventsAnswer
		if err == nil {
			ans, err = h.Agent.Events(ctx)
		}
		if err != nil {
			tl.Note = "the app's calls to the fakes and its connections are missing: Holdfast's agent, which records them, did not answer"
			readErr = fmt.Errorf("read the agent's events: %w", err)
		} else {
			names := h.replicaNames()
			for _, e := range ans.Events {
				if e.At+offset < -time.Millisecond {
					continue // before BeginTimeline: an earlier round's (the offset is right to well under 1 ms)
				}
				e.At = max(0, e.At+offset)
				if e.End != 0 {
					e.End = max(e.At, e.End+offset)
				}
				if e.Kind == agent.EventConnect {
					e.From = nameOr(names, e.From, "app")
				}
				events = append(events, e)
			}
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At < events[j].At })
	tl.Events = capEvents(foldConnects(events), MaxTimeline)
	return tl, readErr
}

// clockProbes is how many times clockOffset asks the agent its time.
const clockProbes = 5

// clockOffset measures what to add to the agent's clock to read the harness's: the agent's time
// against the midpoint of the call that asked for it, from the quickest of a few calls (NTP's
// way), so it is right to within half that round trip — well under a millisecond on the
// sandbox's network.
func (h *Harness) clockOffset(ctx context.Context) (time.Duration, error) {
	var best, offset time.Duration
	for i := range clockProbes {
		sent := h.events.Since()
		now, err := h.Agent.Clock(ctx)
		back := h.events.Since()
		if err != nil {
			return 0, err
		}
		if rtt := back - sent; i == 0 || rtt < best {
			best, offset = rtt, (sent+back)/2-now
		}
	}
	return offset, nil
}

// connectBurst is how close together connections of one client to one link must open to read
// as one event: a pool filling up under a burst opens dozens.
const connectBurst = 50 * time.Millisecond

// foldConnects folds each run of connections that one client opened to one link within
// connectBurst of each other into one event, "connect ×N". Events are in time order.
func foldConnects(events []agent.Event) []agent.Event {
	out := events[:0:0]
	type run struct {
		i, n int           // the run's event in out, and its connections
		last time.Duration // when its latest connection opened
	}
	runs := map[string]*run{} // by client and link
	for _, e := range events {
		if e.Kind != agent.EventConnect || e.Note != "" {
			out = append(out, e)
			continue
		}
		k := e.From + ">" + e.To
		if r := runs[k]; r != nil && e.At-r.last <= connectBurst {
			r.n++
			r.last = e.At
			out[r.i].What = fmt.Sprintf("connect ×%d", r.n)
			continue
		}
		runs[k] = &run{i: len(out), n: 1, last: e.At}
		out = append(out, e)
	}
	return out
}

// capEvents keeps the first and last n/2 events and one gap for the rest (and for the gaps
// among them).
func capEvents(events []agent.Event, n int) []agent.Event {
	if len(events) <= n {
		return events
	}
	keep := n / 2
	omitted := 0
	for _, e := range events[keep : len(events)-keep] {
		if e.Kind == agent.EventGap {
			omitted += e.Omitted
		} else {
			omitted++
		}
	}
	out := append([]agent.Event(nil), events[:keep]...)
	out = append(out, agent.Event{At: events[keep].At, Kind: agent.EventGap, Omitted: omitted})
	return append(out, events[len(events)-keep:]...)
}

// replicaNames maps each replica's host to its service name, to tell whose connection a link saw.
func (h *Harness) replicaNames() map[string]string {
	names := map[string]string{}
	for i, u := range h.Target.AppURLs() {
		if p, err := url.Parse(u); err == nil {
			names[p.Hostname()] = string(Replica(i + 1))
		}
	}
	return names
}

func nameOr(names map[string]string, host, fallback string) string {
	if n, ok := names[host]; ok {
		return n
	}
	return fallback
}

// record notes a request to the app as it leaves.
func (h *Harness) record(r Request, method string, replica int) int {
	e := agent.Event{Kind: agent.EventRequest, From: "harness", To: string(Replica(replica)), What: method + " " + r.Path,
		Body: agent.CutBody(r.Body)}
	if len(e.What) > agent.MaxEventBody {
		e.What = e.What[:agent.MaxEventBody] + "…"
	}
	for k, v := range r.Header {
		if strings.EqualFold(k, "Idempotency-Key") {
			e.Key = v
		}
	}
	return h.events.Add(e)
}

// Sent puts on the timeline a request that a scenario sends through a client of its own (a new
// connection per request, a connection kept alive), as Do puts its own: call it as the request
// leaves, and the func it returns with what came back. r.Replica 0 is the first replica. It
// costs what Do's record costs: a lock and a copy of the body's first MaxEventBody bytes.
func (h *Harness) Sent(r Request) (answered func(Response)) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	id := h.record(r, method, max(1, r.Replica))
	return func(out Response) { h.answered(id, out) }
}

// answered completes a recorded request with what came back.
func (h *Harness) answered(id int, out Response) {
	h.events.Finish(id, func(e *agent.Event) {
		e.Status = out.Status
		switch {
		case out.Err != nil && out.TimedOut():
			e.Note = fmt.Sprintf("the harness gave up after %s", out.Duration.Round(time.Millisecond))
		case out.Err != nil:
			e.Note = shortErr(out.Err)
		default:
			e.Answer = agent.CutBody(out.Body)
		}
	})
}

// recordingTarget records what a scenario does to the sandbox's services: signals, restarts,
// pauses, exits. Each is stamped when the harness asks for it, since it takes effect during the
// call (an unpaused app runs before the engine's answer comes back).
type recordingTarget struct {
	Target
	events *agent.EventLog
}

// Unwrap returns the target a harness's Target records, for tests that reach their own fake
// through a harness. A Target that wraps another says so with an Unwrap() Target method (grading's
// harness does); Unwrap peels every layer.
func Unwrap(t Target) Target {
	for {
		switch w := t.(type) {
		case recordingTarget:
			t = w.Target
		case interface{ Unwrap() Target }:
			t = w.Unwrap()
		default:
			return t
		}
	}
}

func (r recordingTarget) Kill(ctx context.Context, svc Service, signal string) error {
	id := r.events.Add(agent.Event{Kind: agent.EventSignal, From: "harness", To: string(svc), What: signal})
	err := r.Target.Kill(ctx, svc, signal)
	r.failed(id, err)
	return err
}

func (r recordingTarget) Start(ctx context.Context, svc Service) error {
	id := r.events.Add(agent.Event{Kind: agent.EventRestart, From: "harness", To: string(svc), What: "start"})
	err := r.Target.Start(ctx, svc)
	r.events.Finish(id, func(e *agent.Event) {
		e.Note = "running again"
		if err != nil {
			e.Note = "did not start: " + err.Error()
		}
	})
	return err
}

func (r recordingTarget) Pause(ctx context.Context, svc Service) error {
	id := r.events.Add(agent.Event{Kind: agent.EventPause, From: "harness", To: string(svc), What: "pause"})
	err := r.Target.Pause(ctx, svc)
	r.failed(id, err)
	return err
}

func (r recordingTarget) Unpause(ctx context.Context, svc Service) error {
	id := r.events.Add(agent.Event{Kind: agent.EventUnpause, From: "harness", To: string(svc), What: "unpause"})
	err := r.Target.Unpause(ctx, svc)
	r.failed(id, err)
	return err
}

func (r recordingTarget) Wait(ctx context.Context, svc Service) (int, error) {
	code, err := r.Target.Wait(ctx, svc)
	if err == nil {
		r.events.Add(agent.Event{Kind: agent.EventExit, From: string(svc), To: string(svc), What: "exited", Note: fmt.Sprintf("exit code %d", code)})
	}
	return code, err
}

// failed notes on event id that the call it records failed. End stays unset: only requests
// and restarts are drawn with an answer.
func (r recordingTarget) failed(id int, err error) {
	if err != nil {
		r.events.Finish(id, func(e *agent.Event) { e.End, e.Note = 0, "failed: "+err.Error() })
	}
}
