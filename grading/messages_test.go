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

// TestBuildFailureWording pins how each way an image fails to build reads: the words
// grading/docker wrote before the engine reported kinds instead (one sentence is new: a step's
// "no space left on device" on a disk Holdfast could not measure), and, for a full disk,
// the operator's.
func TestBuildFailureWording(t *testing.T) {
	t.Parallel()
	const fix = ". Fix the error the build log ends with (below) and push again; `docker build .` reproduces it locally."
	for _, tc := range []struct {
		name string
		err  *BuildError
		want string
	}{
		{"no dockerfile", &BuildError{Kind: BuildNoDockerfile},
			"There is no Dockerfile at the root of the repository. Add one (the starter has a working example)."},
		{"dockerfile symlink", &BuildError{Kind: BuildSymlink, File: "Dockerfile"},
			"The Dockerfile is a symbolic link. Make it a regular file at the root of the repository."},
		{"dockerignore symlink", &BuildError{Kind: BuildSymlink, File: ".dockerignore"},
			"The .dockerignore is a symbolic link. Make it a regular file at the root of the repository."},
		{"context too large", &BuildError{Kind: BuildContextTooLarge, MaxContextBytes: 50 << 20},
			"The build context is larger than 50 MiB. Add a .dockerignore that leaves out dependencies, build output and data files."},
		{"timed out", &BuildError{Kind: BuildTimedOut, Timeout: 100 * time.Second},
			"The image build did not finish within 1m40s. Check for steps that download a lot or wait for input."},
		{"step failed", &BuildError{Kind: BuildStepFailed, Step: "The command '/bin/sh -c go build -o /app .' returned a non-zero code: 1"},
			"The image did not build: The command '/bin/sh -c go build -o /app .' returned a non-zero code: 1" + fix},
		{"step failed saying no space, disk not measured", &BuildError{Kind: BuildStepFailed, Step: "The command '/bin/sh -c go build' returned a non-zero code: 1",
			DiskUnchecked: "the engine is at tcp://10.0.0.2:2376, not on this machine"},
			"The image did not build: The command '/bin/sh -c go build' returned a non-zero code: 1" + fix +
				` The build log says the disk ran out of space ("no space left on device"), and Holdfast could not check the grading host's disk: ` +
				"if your build did not print that itself, the host's disk may be full; grade again later, or tell whoever runs Holdfast."},
		{"policy", &BuildError{Kind: BuildRefused, Refusal: &DockerfileRefusal{Rule: RuleRemoteSource, Line: 3, Instr: "ADD", Arg: "http://127.0.0.1:8080/secret"}},
			"Dockerfile line 3: ADD http://127.0.0.1:8080/secret: remote sources are not fetched here (the build may only reach package registries, through its proxy). Download the file in a RUN step (curl or wget), or commit it to the repository and COPY it."},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if !tc.err.Learners() {
			t.Errorf("%s: Learners() = false; every kind but a full disk is the learner's", tc.name)
		}
	}

	// A full disk is Holdfast's: an error the grader returns ("build <dir>: " before it), with
	// what was measured when a step's words were checked against the disk.
	daemon := &BuildError{Kind: BuildOutOfDisk, Step: "failed to register layer: write /usr/lib/x.so: no space left on device"}
	measured := &BuildError{Kind: BuildOutOfDisk, Step: "The command '/bin/sh -c go build' returned a non-zero code: 1",
		DiskPath: "/var/lib/docker", DiskFree: 200 << 20, DiskTotal: 40 << 30}
	for _, tc := range []struct {
		err  *BuildError
		want string
	}{
		{daemon, `build dir: the Docker engine ran out of disk space ("no space left on device"); free space on the grading host (docker system prune, or a larger disk) and grade again: the submission was not judged`},
		{measured, `build dir: the Docker engine ran out of disk space ("no space left on device": a build step failed with it, and 200 MiB of 40.0 GiB was free at /var/lib/docker); ` +
			"free space on the grading host (docker system prune, or a larger disk) and grade again: the submission was not judged"},
	} {
		if got := fmt.Errorf("build dir: %w", tc.err).Error(); got != tc.want {
			t.Errorf("out of disk:\n got %q\nwant %q", got, tc.want)
		}
		if tc.err.Learners() {
			t.Errorf("out of disk: Learners() = true; a full disk is Holdfast's")
		}
	}
}

// TestDockerfileRefusalWording pins each Dockerfile policy rule's words, as grading/docker's
// checkDockerfile wrote them before it reported the rule instead.
func TestDockerfileRefusalWording(t *testing.T) {
	t.Parallel()
	const combine = "Combine RUN steps (`RUN a && b`) and COPY whole directories."
	for _, tc := range []struct {
		r    DockerfileRefusal
		want string
	}{
		{DockerfileRefusal{Rule: RuleTooLong, Limit: 1 << 20}, "The Dockerfile is larger than 1024 KiB. Shorten it."},
		{DockerfileRefusal{Rule: RuleUnparsable, Err: "unterminated heredoc"},
			"The Dockerfile does not parse: unterminated heredoc. `docker build .` shows the same error locally."},
		{DockerfileRefusal{Rule: RuleTooManyInstructions, Count: 401, Limit: 400},
			"The Dockerfile has 401 instructions; at most 400 are built here. " + combine},
		{DockerfileRefusal{Rule: RuleTooManyLayers, Line: 102, Instr: "RUN", Limit: 100},
			"Dockerfile line 102: this stage has more than 100 RUN, COPY and ADD steps, more layers than an image can hold. " + combine},
		{DockerfileRefusal{Rule: RuleImageUnreadable, Line: 1, Instr: "FROM", Arg: "${X", Err: "missing '}'"},
			"Dockerfile line 1: cannot read the image name \"${X\" (missing '}'). Write the name out, or use ${NAME} with NAME set by an ARG before the first FROM."},
		{DockerfileRefusal{Rule: RuleLaterStage, Line: 2, Instr: "COPY", Arg: "3", Count: 3},
			"Dockerfile line 2: COPY --from=3 names stage 3, which is not an earlier stage."},
		{DockerfileRefusal{Rule: RuleImageURL, Line: 2, Instr: "ONBUILD COPY", Arg: "http://127.0.0.1/x"},
			"Dockerfile line 2: ONBUILD COPY --from=http://127.0.0.1/x is a URL: images come from a registry or an earlier stage."},
		{DockerfileRefusal{Rule: RuleRegistryAddress, Line: 1, Instr: "FROM", Arg: "localhost:5000/img"},
			"Dockerfile line 1: FROM localhost:5000/img names a registry by address or port, which is not reached from here. Use an image on a public registry (Docker Hub, ghcr.io, quay.io, …)."},
		{DockerfileRefusal{Rule: RuleRegistryNotAllowed, Line: 1, Instr: "FROM", Arg: "evil.example/img", Host: "evil.example"},
			"Dockerfile line 1: FROM evil.example/img names the registry evil.example, which is not reached from here. Use an image on Docker Hub, ghcr.io, gcr.io, quay.io, public.ecr.aws, mcr.microsoft.com or registry.k8s.io."},
		{DockerfileRefusal{Rule: RuleRemoteFlag, Line: 2, Instr: "ADD", Arg: "checksum"},
			"Dockerfile line 2: ADD --checksum is for remote sources, which are not fetched here. Put the file in the repository and COPY it."},
		{DockerfileRefusal{Rule: RuleAddVariable, Line: 3, Instr: "ADD", Arg: "$U"},
			"Dockerfile line 3: ADD $U: ADD sources may not use variables here (a variable could name a URL). Write the path out, or use COPY."},
		{DockerfileRefusal{Rule: RuleRemoteSource, Line: 2, Instr: "ONBUILD ADD", Arg: "http://169.254.169.254/"},
			"Dockerfile line 2: ONBUILD ADD http://169.254.169.254/: remote sources are not fetched here (the build may only reach package registries, through its proxy). Download the file in a RUN step (curl or wget), or commit it to the repository and COPY it."},
	} {
		r := tc.r
		if got := (&BuildError{Kind: BuildRefused, Refusal: &r}).Error(); got != tc.want {
			t.Errorf("rule %d:\n got %q\nwant %q", r.Rule, got, tc.want)
		}
	}
}
