package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, catalog.MustNew(catalog.Builtin()), args, os.Getenv, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputWithoutDocker(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"no arguments", nil, exitUsage, "usage"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"no challenge", []string{"grade", "testdata/exits"}, exitUsage, "want --challenge SLUG"},
		{"unknown challenge", []string{"grade", "--challenge", "nope", "testdata/exits"}, exitUsage, "known challenges: cache-stampede, capacity-checkout, circuit-breaker, debug-retry-storm, distributed-lock, flash-sale, graceful-shutdown, idempotent-payments, load-shedding, rate-limiter, refactor-order-pricing, webhook-receiver"},
		{"missing directory", []string{"grade", "--challenge", "idempotent-payments", "testdata/does-not-exist"}, exitUsage, "cannot read testdata/does-not-exist"},
		{"a file, not a directory", []string{"grade", "--challenge", "idempotent-payments", "testdata/no-dockerfile/README"}, exitUsage, "is a file"},
		{"no Dockerfile", []string{"grade", "--challenge", "idempotent-payments", "testdata/no-dockerfile"}, exitUsage, "has no Dockerfile"},
		{"build without directories", []string{"build"}, exitUsage, "want one or more directories"},
		{"build, negative timeout", []string{"build", "--timeout", "-1s", "testdata/exits"}, exitUsage, "a --timeout of 0 or more"},
		{"build, one without Dockerfile", []string{"build", "testdata/exits", "testdata/no-dockerfile"}, exitUsage, "has no Dockerfile"},
	}
	code, out, _ := runCLI(t, "challenges")
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	if code != exitPass || len(rows) != 13 || rows["idempotent-payments"] != "idempotent-payments Idempotent payments API intermediate go,ts,python practice,take-home 10" ||
		rows["refactor-order-pricing"] == "" || !strings.Contains(rows["rate-limiter"], "practice,take-home") {
		t.Fatalf("runner challenges: exit %d, want a header and twelve challenges\n%s", code, out)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, c.code, c.say)
			}
		})
	}
}

// TestBuild builds for real: a submission that compiles is built (or found built), then found
// built on the second run; one that does not compile makes the command fail with the compiler's
// words, while the others in the same run still build.
func TestBuild(t *testing.T) {
	dockertest.Engine(t)
	code, out, stderr := runCLI(t, "build", "--jobs", "2", "testdata/exits", "testdata/compile-error")
	if code != exitFail || !strings.Contains(out, "testdata/compile-error: build failed") || !strings.Contains(out, "undefined: healthz") ||
		!strings.Contains(out, "testdata/exits: holdfast-submission:") {
		t.Fatalf("exit %d; want %d naming the failed build and the built one\nstdout:\n%s\nstderr:\n%s", code, exitFail, out, stderr)
	}
	code, out, stderr = runCLI(t, "build", "testdata/exits")
	if code != exitPass || !strings.Contains(out, "(already built)") {
		t.Fatalf("second build: exit %d; want %d and the image found built\nstdout:\n%s\nstderr:\n%s", code, exitPass, out, stderr)
	}
	// --timeout bounds each build (the test command gives its cache-warming builds more room
	// than a grading's 100 s): slow-build sleeps 60 s in a RUN step, then fails.
	code, out, stderr = runCLI(t, "build", "--timeout", "1s", "testdata/slow-build")
	if code != exitFail || !strings.Contains(out, "did not finish within 1s") {
		t.Fatalf("--timeout 1s: exit %d; want %d and the build stopped at 1 s\nstdout:\n%s\nstderr:\n%s", code, exitFail, out, stderr)
	}
}

func TestUnreachableEngineSaysHowToStartOne(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	code, _, stderr := runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitGraderError || !strings.Contains(stderr, "no Docker engine answers") || !strings.Contains(stderr, "deploy/bootstrap.sh") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestBrokenSubmissions grades submissions that fail before any scenario can run, for real, and
// checks the verdict names the cause and that nothing is left behind.
func TestBrokenSubmissions(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns) // the gradings' sandboxes, apart from other packages'
	cases := []struct {
		dir      string
		status   grading.Status
		message  string
		logTail  string
		annotate *grading.Annotation
	}{
		{"compile-error", grading.BuildFailed, "The image did not build", "undefined: healthz",
			&grading.Annotation{Path: "main.go", Line: 6, Column: 30, Message: "undefined: healthz"}},
		{"exits", grading.Crashed, "exited with code 3", "DATABSE_URL is not set", nil},
		{"never-listens", grading.Crashed, "GET /healthz to answer 200 within 3s", "starting up", nil},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "grade", "--json", "--start-timeout", "3s", "--challenge", "idempotent-payments", "testdata/"+c.dir)
			if code != exitFail {
				t.Fatalf("exit %d; want %d\nstderr:\n%s", code, exitFail, stderr)
			}
			var v grading.Verdict
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout)
			}
			if v.Status != c.status || !strings.Contains(v.Message, c.message) || !strings.Contains(v.LogTail, c.logTail) {
				t.Fatalf("got status %s, message %q, log tail %q; want %s, %q, %q", v.Status, v.Message, v.LogTail, c.status, c.message, c.logTail)
			}
			if c.annotate != nil && (len(v.Annotations) == 0 || v.Annotations[0] != *c.annotate) {
				t.Fatalf("annotations %+v; want %+v", v.Annotations, *c.annotate)
			}
			if left := sandboxes(t, ns); left != "" {
				t.Fatalf("left behind after grading: %s", left)
			}
		})
	}
}
