package grading

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestStartFailureWording pins how each way an app fails to start reads to the learner: the
// words grading/docker wrote before the sandbox reported kinds instead.
func TestStartFailureWording(t *testing.T) {
	t.Parallel()
	const (
		keepRunning = "the app to keep running and answer GET /healthz with 200"
		readConfig  = "Its last output is below. Read configuration from the environment (PORT, DATABASE_URL, REDIS_URL, PROVIDER_URL, DOWNSTREAM_URL) and retry connections while the database starts."
		listen      = "Listen on 0.0.0.0:$PORT (3000), not localhost, and answer 200 on /healthz once ready."
	)
	refused := fmt.Errorf(`Get "http://172.20.0.5:3000/healthz": %w`, &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})
	never := func(status int, err error) *StartError {
		return &StartError{Service: scenarios.App, Kind: StartNeverHealthy, Timeout: 3 * time.Second, Port: 3000, LastStatus: status, LastErr: err}
	}
	for _, tc := range []struct {
		name string
		err  *StartError
		want scenarios.Failure
	}{
		{"exited", &StartError{Service: scenarios.App, Kind: StartExited, ExitCode: 3, After: 1234 * time.Millisecond},
			scenarios.Failure{Expected: keepRunning, Actual: "it exited with code 3 after 1.2s", Hint: readConfig}},
		{"oom", &StartError{Service: scenarios.Replica(2), Kind: StartOOMKilled, ExitCode: 137, MemoryMB: 128},
			scenarios.Failure{Expected: keepRunning, Actual: "it was killed for using more than 128 MiB of memory", Hint: readConfig}},
		{"never healthy, no address", never(0, nil),
			scenarios.Failure{Expected: "GET /healthz to answer 200 within 3s of start", Actual: "no answer yet", Hint: listen}},
		{"never healthy, status", never(503, nil),
			scenarios.Failure{Expected: "GET /healthz to answer 200 within 3s of start", Actual: "status 503", Hint: listen}},
		{"never healthy, refused", never(0, refused),
			scenarios.Failure{Expected: "GET /healthz to answer 200 within 3s of start", Actual: "connection refused on port 3000", Hint: listen}},
		{"never healthy, other", never(0, errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
			scenarios.Failure{Expected: "GET /healthz to answer 200 within 3s of start", Actual: "context deadline exceeded (Client.Timeout exceeded while awaiting headers)", Hint: listen}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Wrapped as a caller may wrap it: errors.As finds it.
			f, ok := scenarios.AsFailure(startFailure(fmt.Errorf("start %s: %w", tc.err.Service, tc.err)))
			if !ok || *f != tc.want {
				t.Fatalf("got %+v (failure: %v)\nwant %+v", f, ok, tc.want)
			}
		})
	}
}

// TestStartFailureOfOursStaysAnError: a sidecar that was not ready, or an engine that failed,
// is Holdfast's: never worded as the learner's failure, and its text is the engine's.
func TestStartFailureOfOursStaysAnError(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		&StartError{Service: scenarios.Postgres, Kind: StartNeverHealthy, Err: errors.New("postgres not ready within 30s: EOF")},
		&StartError{Service: scenarios.App, Kind: StartOutOfDisk, Err: errors.New("start app: write /var/lib/docker/x: no space left on device")},
		&StartError{Service: scenarios.App, Kind: StartImageMissing, Err: errors.New("create app-1 container from holdfast-submission:ab: No such image: holdfast-submission:ab")},
		errors.New("inspect app: connection reset"),
	} {
		got := startFailure(err)
		if _, ok := scenarios.AsFailure(got); ok || got != err {
			t.Errorf("startFailure(%v) = %#v; want the error itself", err, got)
		}
	}
	se := &StartError{Service: scenarios.App, Kind: StartOutOfDisk, Err: errors.New("start app: no space left on device")}
	if se.Error() != "start app: no space left on device" {
		t.Errorf("StartError with the engine's error reads %q; want the engine's error with what was being done", se.Error())
	}
}

// TestPipelineWording pins the rest of the pipeline's messages to the learner.
func TestPipelineWording(t *testing.T) {
	t.Parallel()
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	check("timed out", timedOutMessage(stageStart, 120*time.Second),
		"The app start did not finish within the 2m0s limit for build and run together. Keep dependency downloads in an early, cacheable layer of the Dockerfile, and make sure every request gets an answer within its deadline.")
	check("out of disk", outOfDiskError("dir").Error(),
		`build dir: the Docker engine ran out of disk space ("no space left on device"); free space on the grading host (docker system prune, or a larger disk) and grade again: the submission was not judged`)

	f := &scenarios.Failure{Expected: "the app to keep running and answer GET /healthz with 200", Actual: "it exited with code 1 after 0s", Hint: "Read its output."}
	onReplica(f, 2)
	check("replica", f.Actual, "replica 2: it exited with code 1 after 0s")
	check("crash", crashMessage(f), "Expected the app to keep running and answer GET /healthz with 200, but replica 2: it exited with code 1 after 0s. Read its output.")
	nr := notRestartedFailure(f)
	check("not restarted", fmt.Sprintf("%s|%s|%s", nr.Expected, nr.Actual, nr.Hint),
		"the app to be running for this scenario|it did not start again after the previous scenario: replica 2: it exited with code 1 after 0s|Read its output.")
	st := scenarioTimeoutFailure(200 * time.Millisecond)
	check("scenario timeout", fmt.Sprintf("%s|%s|%s", st.Expected, st.Actual, st.Hint),
		"the scenario to finish within 200ms|the app kept it waiting until the limit|Look for requests that never get an answer: a lock held forever or a call without a deadline.")
	oom := &scenarios.Failure{Expected: "201", Actual: "EOF", Hint: "Look at the log."}
	explainOOMFailure(oom, scenarios.Replica(2), 128)
	check("oom", oom.Actual+"|"+oom.Hint, "EOF — meanwhile app-2 was killed by the kernel for using more than its 128 MiB of memory|"+
		"The app ran out of memory (limit 128 MiB). Bound what it keeps per request and in caches, stream large bodies, and check for leaks under load. Look at the log.")

	d := AgentDeath{OOMKilled: true, MemoryMB: 64, Requests: 1200, Bytes: 3 << 20}
	check("agent killed", agentKilledMessage(d), "Your app's requests got Holdfast's agent (the payment provider and downstream fakes) killed: "+
		"the agent that hosts them was killed for using more than its 64 MiB of memory after the app had sent them 1200 requests (3.0 MiB). "+
		"Bound retries (a limit and a backoff), keep headers, keys and bodies small, and reuse connections instead of opening one per request.")
	check("agent killed, no traffic line", AgentDeath{MemoryMB: 64}.failure().Actual,
		"the agent that hosts them was killed for using more than its 64 MiB of memory while the app was sending it requests")

	over := overflowFailure(&agent.OverflowError{Overflows: []agent.Overflow{{Kind: agent.OverflowKey}}})
	check("overflow", over.Expected+"|"+over.Hint, "the app to stay within the brief's bounds on what it sends the payment provider and the downstream service|"+
		"Keep idempotency keys and payment ids short (at most 255 bytes). Bound retries (a limit and a backoff) and keep requests small: a retry loop without a limit floods the service it calls.")
}
