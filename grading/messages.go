package grading

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// The pipeline's words to the learner: what was expected, what happened, what to try next. Every
// message the pipeline itself writes (a scenario's own failures are its challenge's) is here, so
// the copy reads as one voice and changes in one place; messages_test.go pins each one.

// Stages a hard-cap timeout names.
const (
	stageBuild     = "image build"
	stageProvision = "sandbox start"
	stageStart     = "app start"
	stageScenarios = "scenario run"
)

// timedOutMessage is the verdict's message when the hard cap on build and run ended a stage.
func timedOutMessage(stage string, hardCap time.Duration) string {
	return fmt.Sprintf("The %s did not finish within the %s limit for build and run together. "+
		"Keep dependency downloads in an early, cacheable layer of the Dockerfile, and make sure every request gets an answer within its deadline.", stage, hardCap)
}

// buildMessage words an image that did not build: for the learner, or, for a full disk, for the
// operator (Holdfast's error, never a verdict; the grader puts "build <dir>: " before it).
func buildMessage(e *BuildError) string {
	switch e.Kind {
	case BuildNoDockerfile:
		return "There is no Dockerfile at the root of the repository. Add one (the starter has a working example)."
	case BuildSymlink:
		return fmt.Sprintf("The %s is a symbolic link. Make it a regular file at the root of the repository.", e.File)
	case BuildContextTooLarge:
		return fmt.Sprintf("The build context is larger than %d MiB. Add a .dockerignore that leaves out dependencies, build output and data files.", e.MaxContextBytes>>20)
	case BuildTimedOut:
		return fmt.Sprintf("The image build did not finish within %s. Check for steps that download a lot or wait for input.", e.Timeout)
	case BuildRefused:
		if e.Refusal == nil {
			return "The Dockerfile policy refused the Dockerfile."
		}
		return refusalMessage(e.Refusal)
	case BuildOutOfDisk:
		measured := ""
		if e.DiskPath != "" {
			measured = fmt.Sprintf(": a build step failed with it, and %s of %s was free at %s", bytesText(e.DiskFree), bytesText(e.DiskTotal), e.DiskPath)
		}
		return fmt.Sprintf("the Docker engine ran out of disk space (%q%s); free space on the grading host (docker system prune, or a larger disk) and grade again: the submission was not judged", noSpace, measured)
	}
	msg := "The image did not build: " + e.Step + ". Fix the error the build log ends with (below) and push again; `docker build .` reproduces it locally."
	if e.DiskUnchecked != "" {
		msg += fmt.Sprintf(" The build log says the disk ran out of space (%q), and Holdfast could not check the grading host's disk: if your build did not print that itself, the host's disk may be full; grade again later, or tell whoever runs Holdfast.", noSpace)
	}
	return msg
}

// refusalMessage words what the Dockerfile policy refused, naming the line.
func refusalMessage(r *DockerfileRefusal) string {
	switch r.Rule {
	case RuleTooLong:
		return fmt.Sprintf("The Dockerfile is larger than %d KiB. Shorten it.", r.Limit>>10)
	case RuleUnparsable:
		return "The Dockerfile does not parse: " + r.Err + ". `docker build .` shows the same error locally."
	case RuleTooManyInstructions:
		return fmt.Sprintf("The Dockerfile has %d instructions; at most %d are built here. Combine RUN steps (`RUN a && b`) and COPY whole directories.", r.Count, r.Limit)
	}
	// An image reference is a FROM's, or an ADD's or COPY's --from.
	image := r.Instr + " --from=" + r.Arg
	if r.Instr == "FROM" {
		image = "FROM " + r.Arg
	}
	what := ""
	switch r.Rule {
	case RuleTooManyLayers:
		what = fmt.Sprintf("this stage has more than %d RUN, COPY and ADD steps, more layers than an image can hold. Combine RUN steps (`RUN a && b`) and COPY whole directories.", r.Limit)
	case RuleImageUnreadable:
		what = fmt.Sprintf("cannot read the image name %q (%s). Write the name out, or use ${NAME} with NAME set by an ARG before the first FROM.", r.Arg, r.Err)
	case RuleLaterStage:
		what = fmt.Sprintf("%s names stage %d, which is not an earlier stage.", image, r.Count)
	case RuleImageURL:
		what = image + " is a URL: images come from a registry or an earlier stage."
	case RuleRegistryAddress:
		what = image + " names a registry by address or port, which is not reached from here. Use an image on a public registry (Docker Hub, ghcr.io, quay.io, …)."
	case RuleRegistryNotAllowed:
		what = fmt.Sprintf("%s names the registry %s, which is not reached from here. Use an image on Docker Hub, ghcr.io, gcr.io, quay.io, public.ecr.aws, mcr.microsoft.com or registry.k8s.io.", image, r.Host)
	case RuleRemoteFlag:
		what = fmt.Sprintf("%s --%s is for remote sources, which are not fetched here. Put the file in the repository and COPY it.", r.Instr, r.Arg)
	case RuleAddVariable:
		what = fmt.Sprintf("%s %s: ADD sources may not use variables here (a variable could name a URL). Write the path out, or use COPY.", r.Instr, r.Arg)
	case RuleRemoteSource:
		what = fmt.Sprintf("%s %s: remote sources are not fetched here (the build may only reach package registries, through its proxy). Download the file in a RUN step (curl or wget), or commit it to the repository and COPY it.", r.Instr, r.Arg)
	default:
		what = fmt.Sprintf("%s is refused (rule %d).", r.Instr, int(r.Rule))
	}
	return fmt.Sprintf("Dockerfile line %d: %s", r.Line, what)
}

// bytesText is a size as an operator reads it.
func bytesText(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// noSpace is how the kernel's ENOSPC reads in the daemon's errors and in a build's output
// (grading/docker's errors.go tells the daemon's from a learner's).
const noSpace = "no space left on device"

// startFailure words an app that did not start as the learner's failure. Any other error (a
// sidecar, the engine) is returned as it is: Holdfast's.
func startFailure(err error) error {
	var se *StartError
	if !errors.As(err, &se) || !se.Learners() {
		return err
	}
	switch se.Kind {
	case StartExited, StartOOMKilled:
		actual := fmt.Sprintf("it exited with code %d after %s", se.ExitCode, se.After.Round(100*time.Millisecond))
		if se.Kind == StartOOMKilled {
			actual = fmt.Sprintf("it was killed for using more than %d MiB of memory", se.MemoryMB)
		}
		return &scenarios.Failure{Expected: "the app to keep running and answer GET /healthz with 200", Actual: actual,
			Hint: "Its last output is below. Read configuration from the environment (PORT, DATABASE_URL, REDIS_URL, PROVIDER_URL, DOWNSTREAM_URL) and retry connections while the database starts."}
	default: // StartNeverHealthy
		return &scenarios.Failure{Expected: fmt.Sprintf("GET /healthz to answer 200 within %s of start", se.Timeout),
			Actual: lastProbe(se), Hint: fmt.Sprintf("Listen on 0.0.0.0:$PORT (%d), not localhost, and answer 200 on /healthz once ready.", se.Port)}
	}
}

// lastProbe says what the app's last GET /healthz got.
func lastProbe(se *StartError) string {
	switch {
	case se.LastStatus != 0:
		return fmt.Sprintf("status %d", se.LastStatus)
	case se.LastErr != nil && strings.Contains(se.LastErr.Error(), "connection refused"):
		return fmt.Sprintf("connection refused on port %d", se.Port)
	case se.LastErr != nil:
		return se.LastErr.Error()
	}
	return "no answer yet"
}

// onReplica says which replica a start failure is about, when the app runs more than one.
func onReplica(f *scenarios.Failure, replica int) {
	f.Actual = fmt.Sprintf("replica %d: %s", replica, f.Actual)
}

// crashMessage is the verdict's message for an app that did not start.
func crashMessage(f *scenarios.Failure) string {
	return fmt.Sprintf("Expected %s, but %s. %s", f.Expected, f.Actual, f.Hint)
}

// notRestartedFailure fails a scenario that could not run because the app did not start again
// after the one before it.
func notRestartedFailure(f *scenarios.Failure) *scenarios.Failure {
	return &scenarios.Failure{
		Expected: "the app to be running for this scenario",
		Actual:   "it did not start again after the previous scenario: " + f.Actual,
		Hint:     f.Hint,
	}
}

// scenarioTimeoutFailure fails a scenario the app kept waiting past its deadline.
func scenarioTimeoutFailure(timeout time.Duration) *scenarios.Failure {
	return &scenarios.Failure{
		Expected: fmt.Sprintf("the scenario to finish within %s", timeout),
		Actual:   "the app kept it waiting until the limit",
		Hint:     "Look for requests that never get an answer: a lock held forever or a call without a deadline.",
	}
}

// explainOOMFailure adds to a failure that the kernel killed a replica for its memory meanwhile:
// otherwise the learner reads only what the scenario saw ("EOF", "connection refused").
func explainOOMFailure(f *scenarios.Failure, killed scenarios.Service, memoryMB int64) {
	f.Actual += fmt.Sprintf(" — meanwhile %s was killed by the kernel for using more than its %d MiB of memory", killed, memoryMB)
	f.Hint = fmt.Sprintf("The app ran out of memory (limit %d MiB). Bound what it keeps per request and in caches, stream large bodies, and check for leaks under load. ", memoryMB) + f.Hint
}

// failure is the learner's failure for an agent their app's traffic got killed.
func (d AgentDeath) failure() *scenarios.Failure {
	sent := "while the app was sending it requests"
	if d.Requests > 0 {
		sent = fmt.Sprintf("after the app had sent them %d requests (%.1f MiB)", d.Requests, float64(d.Bytes)/(1<<20))
	}
	return &scenarios.Failure{
		Expected: "the app to call the payment provider and the downstream service at a bounded rate, with small requests",
		Actual:   fmt.Sprintf("the agent that hosts them was killed for using more than its %d MiB of memory %s", d.MemoryMB, sent),
		Hint:     "Bound retries (a limit and a backoff), keep headers, keys and bodies small, and reuse connections instead of opening one per request.",
	}
}

// agentKilledMessage is the verdict's message when the app's traffic got the agent killed.
func agentKilledMessage(d AgentDeath) string {
	f := d.failure()
	return "Your app's requests got Holdfast's agent (the payment provider and downstream fakes) killed: " + f.Actual + ". " + f.Hint
}

// overflowFailure is the learner's failure for going beyond the fakes' bounds. Its hint names
// what to shorten only when the app sent a key or an id too long.
func overflowFailure(e *agent.OverflowError) *scenarios.Failure {
	hint := "Bound retries (a limit and a backoff) and keep requests small: a retry loop without a limit floods the service it calls."
	for _, o := range e.Overflows {
		if o.Kind == agent.OverflowKey || o.Kind == agent.OverflowPaymentID {
			hint = fmt.Sprintf("Keep idempotency keys and payment ids short (at most %d bytes). ", agent.MaxKeyBytes) + hint
			break
		}
	}
	return &scenarios.Failure{
		Expected: "the app to stay within the brief's bounds on what it sends the payment provider and the downstream service",
		Actual:   e.Error(),
		Hint:     hint,
	}
}
