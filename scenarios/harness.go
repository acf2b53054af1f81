package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Service names a container of the sandbox that the harness can signal or restart.
type Service string

const (
	App      Service = "app"
	Postgres Service = "postgres"
	Redis    Service = "redis"
)

// Replica names the n-th copy of the app, counting from 1: Replica(1) is App, the others are
// "app-2", "app-3"… Challenges that run several replicas (challenge.yaml `replicas:`) reach each
// one by its name.
func Replica(n int) Service {
	if n <= 1 {
		return App
	}
	return Service(fmt.Sprintf("app-%d", n))
}

// IsApp reports whether svc is one of the app's replicas.
func IsApp(svc Service) bool {
	return svc == App || strings.HasPrefix(string(svc), "app-")
}

// Target is the running sandbox as a scenario sees it. The Docker sandbox implements it; so can a
// scripted fake in tests.
type Target interface {
	// AppURL is the first replica's base URL, e.g. http://172.20.0.5:3000. It may change after a
	// restart.
	AppURL() string
	// AppURLs are every replica's base URLs, Replica(1)'s first.
	AppURLs() []string
	// Kill sends a signal ("SIGTERM", "SIGKILL") to a service's main process.
	Kill(ctx context.Context, svc Service, signal string) error
	// Start starts a stopped service again; for an app replica it also waits until /healthz
	// answers.
	Start(ctx context.Context, svc Service) error
	// Pause freezes every process of a service (docker pause: SIGSTOP-like, connections stay
	// open, nothing runs); Unpause thaws it. Unpausing a service that is not paused is not an
	// error.
	Pause(ctx context.Context, svc Service) error
	Unpause(ctx context.Context, svc Service) error
	// Wait blocks until a service's main process has exited (at once if it is not running) and
	// returns its exit code; ctx bounds the wait.
	Wait(ctx context.Context, svc Service) (exitCode int, err error)
	// Logs returns the last lines of a service's output since a moment (the zero time: all of it).
	Logs(ctx context.Context, svc Service, since time.Time, lines int) (string, error)
}

// Harness is what a scenario drives: the app over HTTP, faults and fakes through the agent, and
// the sandbox's services.
type Harness struct {
	Target Target
	Agent  *agent.Client
	// PostgresURL and RedisURL reach the real sidecars directly, bypassing the fault proxies, for
	// observations.
	PostgresURL string
	RedisURL    string
	// SourceDir is the submission's directory as the grading built it, for the files a learner
	// ships beside the code (ReadSource); "" when the grading has none.
	SourceDir string

	http *http.Client
	next atomic.Uint64 // round-robin over replicas
	// events is the harness's side of the scenario's timeline (timeline.go).
	events *agent.EventLog
}

// NewHarness returns a harness for a provisioned sandbox.
func NewHarness(t Target, a *agent.Client, postgresURL, redisURL string) *Harness {
	events := agent.NewEventLog()
	if a != nil {
		a.Record(events) // the faults it sets, on the harness's clock
	}
	return &Harness{Target: recordingTarget{t, events}, Agent: a, PostgresURL: postgresURL, RedisURL: redisURL, events: events,
		// The app is untrusted: its headers are capped like its bodies (Do), or each of a
		// concurrent burst could hold the transport's default of 10 MB.
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
			MaxResponseHeaderBytes: maxAnswerHeader}}}
}

// What the harness reads of one answer from the app, at most; Do's deadline bounds how long.
const (
	maxAnswerBody   = 1 << 20
	maxAnswerHeader = 1 << 20
)

// Request is one call to the learner's app.
type Request struct {
	Method  string
	Path    string
	Header  map[string]string
	Body    []byte
	Timeout time.Duration // default 5 s
	// Replica is the copy of the app that gets the request, counting from 1; 0 spreads requests
	// round-robin over every replica (with one replica: always that one).
	Replica int
}

// JSON is a convenience for a request body.
func JSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // scenario tables only marshal plain maps and structs
	}
	return b
}

// Response is what the app answered, or the transport error that stood in for an answer.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Duration time.Duration
	Err      error // connection refused, reset, deadline exceeded…
}

// TimedOut reports whether the request hit its deadline without an answer.
func (r Response) TimedOut() bool {
	return r.Err != nil && (errors.Is(r.Err, context.DeadlineExceeded) || strings.Contains(r.Err.Error(), "Client.Timeout"))
}

// Describe renders a response for a learner-facing message. A request that timed out says how
// long it waited, so a message that adds the duration uses DescribeTook instead.
func (r Response) Describe() string {
	if r.Err != nil {
		if r.TimedOut() {
			return fmt.Sprintf("no answer within %s, when Holdfast stopped waiting (look for a lock, or a call without a deadline)",
				r.Duration.Round(time.Millisecond))
		}
		return "no HTTP answer (" + shortErr(r.Err) + ")"
	}
	body := strings.TrimSpace(string(r.Body))
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	if body == "" {
		return fmt.Sprintf("%d with an empty body", r.Status)
	}
	return fmt.Sprintf("%d %s", r.Status, body)
}

// DescribeTook is Describe and how long the answer took ("504 … after 2.01s"), saying the time
// once: a request that timed out already says how long it waited ("no answer within 6s", never
// "no answer within 6s after 6s").
func (r Response) DescribeTook() string {
	if r.TimedOut() {
		return r.Describe()
	}
	return fmt.Sprintf("%s after %s", r.Describe(), r.Duration.Round(time.Millisecond))
}

// StatusCounts counts answers by status for a learner-facing message, e.g. "58×200, 2×503,
// 1×no answer": statuses first, then the requests that got no answer (timed out) or no HTTP
// answer (connection refused, reset…), each kind once, in a fixed order so that the same
// answers always read the same. The answers of a burst sent together arrive in no order worth
// showing; how many got which status is what tells the learner what happened.
func StatusCounts(rs []Response) string {
	counts := map[string]int{}
	var kinds []string
	for _, r := range rs {
		k := fmt.Sprint(r.Status)
		if r.Err != nil {
			k = "no answer"
			if !r.TimedOut() {
				k = "no HTTP answer (" + shortErr(r.Err) + ")"
			}
		}
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	if len(kinds) == 0 {
		return "none"
	}
	slices.Sort(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d×%s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}

func shortErr(err error) string {
	s := err.Error()
	for _, known := range []string{"connection refused", "connection reset", "EOF", "no route to host"} {
		if strings.Contains(s, known) {
			return known
		}
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// Do sends one request to the app. Transport errors are part of the Response, not an error:
// an app that does not answer is behaviour to judge.
func (h *Harness) Do(ctx context.Context, r Request) Response {
	if err := ctx.Err(); err != nil {
		// Its scenario is over: a goroutine the scenario left behind, not waited for. Nothing is
		// sent, and nothing goes on the next scenario's timeline (that one may be a hidden's).
		return Response{Err: err}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	start := time.Now()
	replica, base := h.pick(r.Replica)
	id := h.record(r, method, replica)
	out := h.send(ctx, r, method, base, body, start)
	h.answered(id, out)
	return out
}

// send is Do's request and answer, unrecorded.
func (h *Harness) send(ctx context.Context, r Request, method, base string, body io.Reader, start time.Time) Response {
	req, err := http.NewRequestWithContext(ctx, method, base+r.Path, body)
	if err != nil {
		return Response{Err: err}
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return Response{Err: err, Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Duration: time.Since(start), Err: err}
	return out
}

// Replicas is how many copies of the app run.
func (h *Harness) Replicas() int { return max(1, len(h.Target.AppURLs())) }

// pick says which replica a request goes to (round-robin when it names none) and its base URL.
func (h *Harness) pick(replica int) (int, string) {
	urls := h.Target.AppURLs()
	if len(urls) <= 1 {
		return 1, h.Target.AppURL()
	}
	if replica <= 0 {
		replica = int(h.next.Add(1)-1)%len(urls) + 1
	}
	if replica > len(urls) {
		return replica, "http://replica-out-of-range.invalid"
	}
	return replica, urls[replica-1]
}

// Concurrent sends n requests released together by a barrier, so that they really overlap in the
// app, and returns the responses in index order. Requests that name no replica go to replica
// i%N+1, so a concurrent burst is spread evenly and the same way every time.
func (h *Harness) Concurrent(ctx context.Context, n int, build func(i int) Request) []Response {
	out := make([]Response, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			r := build(i)
			if r.Replica == 0 {
				r.Replica = i%h.Replicas() + 1
			}
			ready.Done()
			select {
			case <-gate:
			case <-ctx.Done():
				out[i] = Response{Err: ctx.Err()}
				return
			}
			out[i] = h.Do(ctx, r)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return out
}

// WaitFor polls check every interval until it returns true or within passes. It returns whether
// check succeeded and the last response seen.
func (h *Harness) WaitFor(ctx context.Context, within, interval time.Duration, check func(ctx context.Context) bool) bool {
	deadline := time.Now().Add(within)
	for {
		if check(ctx) {
			return true
		}
		if time.Now().Add(interval).After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
}

// Decode parses a JSON response body into v, failing the learner with a clear message.
func Decode(r Response, v any, what string) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return Failf(what+" as a JSON object", "Send Content-Type: application/json and a JSON body.",
			"%s (%v)", r.Describe(), err)
	}
	return nil
}
