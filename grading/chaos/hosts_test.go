package chaos

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestManyHostsOneQueue: two `runner work` processes, each with its own Docker engine, share one
// queue. The engine of the host grading a push dies mid-grading (its dockerd SIGKILLed): the job
// goes to the other host, which grades it — one check run, success 100 — while the dead engine
// stays down. Each runner's janitor sweeps only its own engine: once the second engine is back
// with the dead grading's sandbox on it, the first runner's janitor (at its start, the sandbox
// older than any live grading) leaves it there while sweeping a stale one of its own engine, and
// the second runner's removes it when it starts. Then the second host grades a push of its own.
func TestManyHostsOneQueue(t *testing.T) {
	eng := dockertest.Engine(t) // the first host's engine; Docker or a reason to skip
	host2 := secondEngine(t)
	st, dbURL := storetest.New(t)
	ns := eng.Namespace() // both runners': one installation, two hosts
	for _, host := range []string{"", host2} {
		if left := sandboxes(t, host, ns); left != "" {
			t.Fatalf("sandboxes exist before the test on %q: %s", host, left)
		}
	}
	bin := buildCommands(t)
	sweepAtEnd(t, bin, ns, "", host2)
	for _, sub := range []submission{passing, failing} {
		shareImage(t, eng, host2, sub.dir)
	}
	fake := newGitHub(t)
	seed(t, st)
	log := slog.New(slog.DiscardHandler)
	rc, err := jobs.NewClient(jobs.Deps{Store: st, Log: log}, jobs.Options{}) // the App's: inserts only
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.New([]byte(secret), st, rc, log)
	if err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(h)
	defer hook.Close()
	fake.SetWebhook(hook.URL, []byte(secret))

	const hardCap = 30 * time.Second
	env := runnerEnv(fake, dbURL, ns, hardCap.String())
	logs := logDir(t)
	r2 := startProc(t, logs, "runner-2", append(slices.Clone(env), "DOCKER_HOST="+host2), bin.runner, "work")
	r2.waitLogged(time.Minute, "runner working")

	// 1. The second host takes the push; its engine dies under the grading.
	sha := commit("two-hosts")
	fake.SetTarball(owner, name, sha, passing.dir)
	if _, status := fake.Deliver("push", pushPayload(t, "main", zeroSHA, sha)); status != 202 {
		t.Fatalf("push delivery: %d", status)
	}
	waitUntil(t, 2*time.Minute, "runner 2 grading the push with its sandbox up", func() bool {
		crs := checkRunsOf(fake, sha)
		return len(crs) == 1 && crs[0].Status == "in_progress" && sandboxes(t, host2, ns) != ""
	})
	r1 := startProc(t, logs, "runner-1", env, bin.runner, "work") // the first engine: the test's own
	r1.waitLogged(time.Minute, "runner working")
	mustEngineScript(t, "kill")
	killed := time.Now()

	// 2. The first host grades it; the second engine stays down meanwhile.
	waitUntil(t, 4*time.Minute, "the push to be graded by the other host", func() bool {
		crs := checkRunsOf(fake, sha)
		return len(crs) > 0 && crs[0].Status == "completed"
	})
	t.Logf("graded by the first host %s after the second engine died", time.Since(killed).Round(time.Second))
	crs := checkRunsOf(fake, sha)
	if len(crs) != 1 || crs[0].Conclusion != passing.conclusion || crs[0].Output.Title != passing.title {
		t.Fatalf("check runs on the push: %d, the first %s %q; want exactly one, %s %q (history %v)",
			len(crs), crs[0].Conclusion, crs[0].Output.Title, passing.conclusion, passing.title, crs[0].History)
	}
	if !r1.logged("grading") {
		t.Fatalf("runner 1 never logged a grading: the job was not graded by the host whose engine answers")
	}
	if out, err := engineScript("status"); err == nil {
		t.Fatalf("the second engine answers again before the test started it: %s", out)
	}

	// 3. Janitors. The second runner stops; its engine comes back with the dead grading's sandbox.
	r2.stop()
	mustEngineScript(t, "start")
	left := sandboxes(t, host2, ns)
	if left == "" {
		t.Fatal("the dead grading's sandbox should be on the second engine once it is back")
	}
	created, err := dockerOut(host2, "network", "ls", "--filter", "label="+docker.LabelNamespace+"="+ns,
		"--format", `{{.Label "`+docker.LabelCreated+`"}}`)
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(strings.Fields(created)[0], 10, 64)
	if err != nil {
		t.Fatalf("created label %q: %v", created, err)
	}
	// Older than any live grading can be: a janitor that saw it would remove it.
	stale := time.Unix(secs, 0).Add(jobs.GradeTimeout(hardCap) + 2*time.Second)
	time.Sleep(time.Until(stale))
	planted := plantStale(t, "", ns)
	r1.stop()
	r1.start()
	r1.waitLogged(time.Minute, "runner working") // its janitor has run
	if out, _ := dockerOut("", "network", "ls", "-q", "--filter", "name="+planted); strings.TrimSpace(out) != "" {
		t.Fatalf("runner 1's janitor left a stale sandbox of its own engine (%s): it did not sweep", planted)
	}
	if now := sandboxes(t, host2, ns); now != left {
		t.Fatalf("runner 1's janitor touched the second engine: before %q, after %q", left, now)
	}
	r2.start()
	r2.waitLogged(time.Minute, "runner working")
	if now := sandboxes(t, host2, ns); now != "" {
		t.Fatalf("runner 2's janitor did not remove the dead grading's sandbox from its engine: %s", now)
	}
	if left := sandboxes(t, "", ns); left != "" {
		t.Fatalf("left on the first engine: %s", left)
	}

	// 4. The second host grades again once its engine is back (the first one stopped, so that
	// the push can only be its).
	r1.stop()
	again := commit("two-hosts-again")
	fake.SetTarball(owner, name, again, failing.dir)
	if _, status := fake.Deliver("push", pushPayload(t, "main", sha, again)); status != 202 {
		t.Fatalf("push delivery: %d", status)
	}
	waitUntil(t, 3*time.Minute, "the second host to grade a push", func() bool {
		crs := checkRunsOf(fake, again)
		return len(crs) > 0 && crs[0].Status == "completed"
	})
	if crs := checkRunsOf(fake, again); len(crs) != 1 || crs[0].Conclusion != failing.conclusion || crs[0].Output.Title != failing.title {
		t.Fatalf("check runs on the second push: %s; want exactly one, %s %q", describe(crs), failing.conclusion, failing.title)
	}
	waitUntil(t, time.Minute, "the second host's sandbox to be torn down", func() bool { return sandboxes(t, host2, ns) == "" })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var attempt, maxAttempts int
	if err := st.Pool.QueryRow(ctx, `SELECT attempt, max_attempts FROM river_job WHERE kind = 'grade'
		AND (args->>'run_id')::bigint = (SELECT r.id FROM runs r JOIN submissions s ON s.id = r.submission_id WHERE s.sha = $1)`,
		sha).Scan(&attempt, &maxAttempts); err != nil {
		t.Fatal(err)
	}
	t.Logf("the grading whose engine died took River attempt %d of %d", attempt, maxAttempts)
}
