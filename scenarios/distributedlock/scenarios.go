package distributedlock

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "distributed-lock"

// The contract's numbers (README.md states each of them).
const (
	// RunPath triggers one run of the report on the replica that receives it.
	RunPath = "/api/report/run"
	// StorePath is where each step is written, under DOWNSTREAM_URL.
	StorePath = "/fenced/report"
	// InstanceHeader names the replica that wrote, with its INSTANCE_ID.
	InstanceHeader = "X-Instance-Id"
	// Lease is how long a lock lasts unless its holder releases it first.
	Lease = 2 * time.Second
	// Steps is how many writes one run makes; StepPause is the wait after each before the next.
	Steps     = 5
	StepPause = 250 * time.Millisecond
)

// StoreDeadline is how long a run may wait for the store's answer to one write before it gives
// up and answers 502; AnswerWithin bounds every trigger's answer.
const (
	StoreDeadline = time.Second
	AnswerWithin  = 5 * time.Second
)

// What the harness allows on top of the contract's numbers.
const (
	// minStepGap is the shortest pause between steps the scenarios accept (StepPause less a
	// margin for clocks and scheduling).
	minStepGap = 200 * time.Millisecond
	// takeoverSlack is how long after the lease can have run out at the latest a waiting worker
	// must have taken over: the scenario's own polling and a loaded machine fit well inside it.
	takeoverSlack = 1500 * time.Millisecond
	// runTimeout bounds one trigger that runs the job (about 1.1 s of work): the contract's bound.
	runTimeout = AnswerWithin
	// hangAnswer bounds the answer of a run whose first write gets no answer: the write's 1 s
	// deadline, and as much again for a loaded machine.
	hangAnswer = 2 * StoreDeadline
	// pollEvery is how often the harness looks at the store's record or retries a busy lock.
	pollEvery = 40 * time.Millisecond
	retryBusy = 200 * time.Millisecond
)

// Scenarios returns the challenge's scenario table in the order it runs: the plain contract first,
// then a failing store and Redis, then the ones that freeze or kill a replica (the kill last of
// all: a lock without a lease stays held by a killed worker for good).
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "single_run", Title: "A trigger runs the report once under a new fencing token, and frees the lock when done", Weight: 10, Visibility: scenarios.Public, Run: singleRun},
		{Slug: "concurrent_triggers", Title: "Replicas triggered at the same moment: exactly one runs, round after round", Weight: 15, Visibility: scenarios.Public, Run: concurrentTriggers},
		{Slug: "refused_write_stops_the_run", Title: "A run stops at the first write the store refuses", Weight: 10, Visibility: scenarios.Hidden, Run: refusedWriteStops},
		{Slug: "store_error_answers_502", Title: "A store that answers a write with an error: the run answers 502 and frees the lock", Weight: 5, Visibility: scenarios.Hidden, Run: storeError},
		{Slug: "store_hang_answers_502", Title: "A store that does not answer: the run gives up after 1 s, answers 502 and frees the lock", Weight: 10, Visibility: scenarios.Public, Run: storeHang},
		{Slug: "redis_down_answers_503", Title: "With Redis down or silent, every trigger gets a 503 within 5 s and nothing is written", Weight: 5, Visibility: scenarios.Public, Disruptive: true, Run: redisDown},
		{Slug: "paused_holder_is_fenced", Title: "A holder frozen past its lease is replaced, and its late writes are refused and stop it", Weight: 20, Visibility: scenarios.Public, Disruptive: true, Timeout: 40 * time.Second, Run: pausedHolder},
		{Slug: "release_only_by_owner", Title: "A holder that lost its lease cannot release the new holder's lock", Weight: 10, Visibility: scenarios.Hidden, Disruptive: true, Timeout: 40 * time.Second, Run: releaseOnlyByOwner},
		{Slug: "killed_holder_lease_expires", Title: "The lock of a holder killed mid-run frees itself when its lease ends", Weight: 15, Visibility: scenarios.Public, Disruptive: true, Timeout: 40 * time.Second, Run: killedHolder},
	}
}

// instance is the INSTANCE_ID of the n-th replica.
func instance(replica int) string { return fmt.Sprintf("app-%d", replica) }

// answer is the contract's response to a trigger.
type answer struct {
	Ran   *bool  `json:"ran"`
	Token *int64 `json:"token"`
}

func trigger(ctx context.Context, h *scenarios.Harness, replica int, timeout time.Duration) scenarios.Response {
	return h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: RunPath, Replica: replica, Timeout: timeout})
}

// expectRan checks a 200 {"ran": true, "token": n} and returns n. Callers that can tell a busy
// lock from a lost run by the store's record use ranOrExplain instead.
func expectRan(r scenarios.Response, what string) (int64, error) {
	if r.Status != http.StatusOK {
		return 0, scenarios.Failf(`200 {"ran": true, "token": n} for `+what, hintFor(r), "%s", r.Describe())
	}
	var a answer
	if err := scenarios.Decode(r, &a, "the answer to "+what); err != nil {
		return 0, err
	}
	if a.Ran == nil || !*a.Ran || a.Token == nil {
		return 0, scenarios.Failf(`200 {"ran": true, "token": n} for `+what,
			`Answer 200 with {"ran": true, "token": <the fencing token of the run>} once every step was accepted.`, "%s", r.Describe())
	}
	return *a.Token, nil
}

// expectNotRan checks a 409 {"ran": false, …}.
func expectNotRan(r scenarios.Response, what, hint string) error {
	if r.Status != http.StatusConflict {
		return scenarios.Failf(`409 {"ran": false} for `+what, hint, "%s", r.Describe())
	}
	var a answer
	if err := scenarios.Decode(r, &a, "the answer to "+what); err != nil {
		return err
	}
	if a.Ran == nil || *a.Ran {
		return scenarios.Failf(`409 {"ran": false} for `+what, `A run that did not finish answers {"ran": false}.`, "%s", r.Describe())
	}
	return nil
}

// expectFailed checks the answer of a run that took the lock and did not finish: status with
// {"ran": false, "token": token}, the token the store's record shows it wrote under.
func expectFailed(r scenarios.Response, status int, token int64, what, hint string) error {
	expected := fmt.Sprintf(`%d {"ran": false, "token": %d} for %s`, status, token, what)
	if r.Err != nil || r.Status != status {
		return scenarios.Failf(expected, hint, "%s", r.Describe())
	}
	var a answer
	if err := scenarios.Decode(r, &a, "the answer to "+what); err != nil {
		return err
	}
	if a.Ran == nil || *a.Ran || a.Token == nil || *a.Token != token {
		return scenarios.Failf(expected,
			fmt.Sprintf(`A run that took the lock and did not finish answers {"ran": false, "token": <its fencing token>}; the store's record shows this run wrote under token %d.`, token),
			"%s", r.Describe())
	}
	return nil
}

func hintFor(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The trigger hung. A busy lock is answered with 409 at once, and every call to Redis and to the store needs a deadline."
	case r.Err != nil:
		return "The app dropped the connection. Look at its log for a panic or crash."
	case r.Status == http.StatusConflict:
		return "The lock was busy although no other run was going on: release it (compare-and-delete) when the run ends, before answering."
	case r.Status >= 500:
		return "The app answered with a server error; its log usually says why."
	}
	return "Compare your status codes and body with the API contract in the brief."
}

// pending is a trigger sent in the background: the runs the scenarios freeze or kill.
type pending struct {
	replica int
	sent    time.Time
	done    chan struct{}
	resp    scenarios.Response
}

func launch(ctx context.Context, h *scenarios.Harness, replica int, timeout time.Duration) *pending {
	p := &pending{replica: replica, sent: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.resp = trigger(ctx, h, replica, timeout)
	}()
	return p
}

func (p *pending) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the answer; the request's own timeout bounds it.
func (p *pending) wait() scenarios.Response {
	<-p.done
	return p.resp
}

// started is a run seen at work: its trigger and its first write in the store, accepted.
type started struct {
	*pending
	first write
	seen  time.Time // when the harness saw the first write answered: the run took the lock before
	busy  int       // how many triggers on the replica answered 409 before this one took the lock
}

// begin triggers a run on replica in the background and returns once the store has accepted its
// first write. A busy lock (409, nothing written) is retried until the given time; the answer's
// timeout must cover whatever the scenario does to the run. A first write the store refused is
// the learner's failure, explained from the store's record: the run's token was not greater than
// one the store had accepted.
func begin(ctx context.Context, h *scenarios.Harness, replica int, until time.Time, timeout time.Duration, what string) (started, error) {
	var last scenarios.Response
	for attempt := 0; ; attempt++ {
		since, err := h.Agent.LastCall(ctx)
		if err != nil {
			return started{}, err
		}
		p := launch(ctx, h, replica, timeout)
		for {
			ws, err := storeWrites(ctx, h, since)
			if err != nil {
				return started{}, err
			}
			first, wrote := firstBy(ws, instance(replica))
			// A write still in flight has no verdict yet: wait for the store's answer.
			if wrote && !first.End.IsZero() {
				if first.refused() {
					all, err := history(ctx, h)
					if err != nil {
						return started{}, err
					}
					return started{}, explainRefusedStart(all, first)
				}
				return started{pending: p, first: first, seen: time.Now(), busy: attempt}, nil
			}
			if !wrote && p.finished() {
				break
			}
			if time.Since(p.sent) > runTimeout {
				return started{}, scenarios.Failf(fmt.Sprintf("%s to start writing to the store within %s of its trigger", what, runTimeout),
					"Take the lock, then write step 1 straight away; answer 409 at once when the lock is busy.",
					"no write from %s after %s", instance(replica), runTimeout)
			}
			if err := sleep(ctx, pollEvery); err != nil {
				return started{}, err
			}
		}
		last = p.resp
		if last.Status != http.StatusConflict {
			return started{}, scenarios.Failf(fmt.Sprintf("%s to run (or 409 while the lock is busy)", what), hintFor(last),
				"%s, and no write from %s in the store", last.Describe(), instance(replica))
		}
		if time.Now().Add(retryBusy).After(until) {
			return started{}, scenarios.Failf(fmt.Sprintf("%s to get the lock by %s", what, until.Format("15:04:05.000")),
				"A lock must expire by itself 2 s after it was taken (SET key value NX PX 2000): a holder that died or froze must not block the others for longer than its lease.",
				"%d trigger(s) on %s all answered 409 without writing, the last %s", attempt+1, instance(replica), last.Describe())
		}
		if err := sleep(ctx, retryBusy); err != nil {
			return started{}, err
		}
	}
}

// firstBy returns inst's first write in ws.
func firstBy(ws []write, inst string) (write, bool) {
	for _, w := range ws {
		if w.Instance == inst {
			return w, true
		}
	}
	return write{}, false
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
