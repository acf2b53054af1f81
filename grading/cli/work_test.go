package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const reference = "../../scenarios/idempotentpayments/testdata/reference"

// runnerProcess is `runner work` as a real process, so that it can be killed like one.
type runnerProcess struct {
	cmd *exec.Cmd
	log *os.File
}

func startRunner(t *testing.T, bin string, env []string, name string) *runnerProcess {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "work")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &runnerProcess{cmd: cmd, log: logf}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return p
}

// sandboxes lists the containers, networks and volumes of the sandboxes in namespace ns: the
// test's own runners', whatever other packages grade beside it.
func sandboxes(t *testing.T, ns string) string {
	t.Helper()
	var all []string
	f := "label=" + docker.LabelNamespace + "=" + ns
	for _, args := range [][]string{
		{"ps", "-a", "-q", "--filter", f},
		{"network", "ls", "-q", "--filter", f},
		{"volume", "ls", "-q", "--filter", f},
	} {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v %s", args, err, out)
		}
		all = append(all, strings.Fields(string(out))...)
	}
	return strings.Join(all, " ")
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestRunnerKilledMidGrading kills a runner with SIGKILL while it grades: another runner gets the
// job once River rescues it, completes the check run, and the dead runner's sandbox is swept
// away. Then a SIGTERM mid-grading lets the grading finish before the runner exits.
func TestRunnerKilledMidGrading(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx := context.Background()
	ns := eng.Namespace() // the runners' too: their janitors sweep only what this test made
	if left := sandboxes(t, ns); left != "" {
		t.Fatalf("sandboxes exist before the test: %s", left)
	}
	// The learner's image is built once up front, so the gradings fit a short hard cap (River
	// rescues a job 15 s after its cap: the test waits for that). 40 s, not 20: a grading of the
	// payments reference took over 20 s at load 23 on 2 cores.
	if b, err := eng.Build(ctx, reference); err != nil || b.Failed() {
		t.Fatalf("build: %v %s", err, b.Failure)
	}
	bin := filepath.Join(t.TempDir(), "runner")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/runner").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The App without workers (its River client only inserts): the runners are processes.
	cat := catalog.MustNew(catalog.Builtin())
	app := apptest.New(t, apptest.Options{Challenges: cat.Challenges(), Lookup: cat.Lookup, Jobs: &jobs.Options{},
		Log: slog.New(slog.DiscardHandler)})
	as := app.Assign(t, "repo", 44, "idempotent-payments", "alice")
	fake, st := app.GitHub, app.Store
	push := func(sha string) { app.Push(t, as, "main", strings.Repeat("0", 39)+"1", sha, reference) }
	checkRun := func(sha string) githubtest.CheckRun {
		for _, cr := range fake.CheckRuns(as.Owner, as.Name) {
			if cr.HeadSHA == sha {
				return cr
			}
		}
		return githubtest.CheckRun{}
	}
	env := []string{"GITHUB_APP_ID=" + fmt.Sprint(fake.AppID), "GITHUB_PRIVATE_KEY=" + string(fake.PrivateKeyPEM),
		"GITHUB_API_URL=" + fake.URL, "DATABASE_URL=" + app.DatabaseURL, "HOLDFAST_HARD_CAP=40s", "RUNNER_CONCURRENCY=1",
		"HOLDFAST_NAMESPACE=" + ns, "RUNNER_HEALTH_LISTEN=127.0.0.1:0",
		// Past the hard cap: a stopping runner finishes the grading it has however slow the
		// machine (30 s, the default, was too little beside the kill matrices: load 16-21).
		"HOLDFAST_SHUTDOWN_GRACE=60s",
		// No sandbox pool: "swept" and "left" below count gradings' sandboxes; a killed runner's
		// pool goes after its idle time (grading/docker's TestPoolOfAKilledRunnerIsSwept).
		"HOLDFAST_POOL_SIZE=0"}

	// 1. SIGKILL mid-grading.
	a := startRunner(t, bin, env, "runner-a")
	first := strings.Repeat("a", 40)
	push(first)
	waitUntil(t, 2*time.Minute, "runner A grading with a sandbox up", func() bool {
		return checkRun(first).Status == "in_progress" && sandboxes(t, ns) != ""
	})
	health := "http://" + healthAddr(t, a)
	if code, body := getHealth(t, health+"/healthz"); code != 200 || body != "docker: ok\nimages: ok\ndatabase: ok\n" {
		t.Fatalf("runner A's health mid-grading: %d\n%s", code, body)
	}
	if code, body := getHealth(t, health+"/metrics"); code != 200 || !strings.Contains(body, `holdfast_grading_stage_seconds_count{stage="build"}`) {
		t.Fatalf("runner A's metrics mid-grading: %d; want the build stage observed:\n%.2000s", code, body)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	orphan := sandboxes(t, ns)
	if orphan == "" {
		t.Fatal("the killed runner's sandbox should still be there at this point")
	}
	b := startRunner(t, bin, env, "runner-b")
	waitUntil(t, 4*time.Minute, "the rescued grading to complete", func() bool { return checkRun(first).Status == "completed" })
	if cr := checkRun(first); cr.Conclusion != "success" {
		t.Fatalf("rescued grading: %s %q", cr.Conclusion, cr.Output.Title)
	}
	waitUntil(t, 2*time.Minute, "the dead runner's sandbox to be swept", func() bool { return sandboxes(t, ns) == "" })

	// 2. SIGTERM mid-grading: the runner stops taking jobs but finishes the one it has.
	second := strings.Repeat("b", 40)
	push(second)
	waitUntil(t, time.Minute, "runner B grading", func() bool { return checkRun(second).Status == "in_progress" && sandboxes(t, ns) != "" })
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runner B after SIGTERM: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("runner B did not stop within two minutes of SIGTERM (its grace is 60 s)")
	}
	// The grading finished and its verdict is stored; showing it on GitHub is the publishers'
	// work (the App's GitHub queue, or any runner's), which a stopping runner no longer takes.
	var runID int64
	var status, verdict string
	var attempt int
	if err := st.Pool.QueryRow(ctx, `SELECT r.id, r.status, COALESCE(r.verdict_status, ''), r.attempt FROM runs r
		JOIN submissions s ON s.id = r.submission_id WHERE s.sha = $1`, second).Scan(&runID, &status, &verdict, &attempt); err != nil {
		t.Fatal(err)
	}
	if status != "completed" || verdict != "passed" || attempt != 1 {
		t.Fatalf("the in-flight grading at SIGTERM: %s %s after %d attempts; want it finished, passed, once", status, verdict, attempt)
	}
	if left := sandboxes(t, ns); left != "" {
		t.Fatalf("left after SIGTERM: %s", left)
	}
	app.Start(t, jobs.Options{Reporters: 2}) // the publishers
	waitUntil(t, time.Minute, "the stored verdict to be published", func() bool { return checkRun(second).Status == "completed" })
	if cr := checkRun(second); cr.Conclusion != "success" {
		t.Fatalf("published %s %q; want success", cr.Conclusion, cr.Output.Title)
	}
	var graded int
	if err := st.Pool.QueryRow(ctx, `SELECT attempt FROM runs WHERE id = $1`, runID).Scan(&graded); err != nil || graded != 1 {
		t.Fatalf("publishing graded the run again (%d attempts, %v)", graded, err)
	}
}
