package bench_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// The grading benchmarks' sizes (run.sh passes its extra arguments to the test binary):
//
//	bash grading/app/jobs/bench/run.sh push -pushes 7
//	bash grading/app/jobs/bench/run.sh throughput -m 12 -levels 1,2,3,4
var (
	pushesFlag = flag.Int("pushes", 7, "push benchmark: how many pushes of the payments reference, one at a time")
	poolFlag   = flag.Int("pool", config.DefaultPoolSize, "grading benchmarks: the runner's warm sandbox pool (HOLDFAST_POOL_SIZE); 0 keeps none")
)

// TestPushBench is the push table alone: K pushes of the payments reference, each a new commit,
// one at a time, through the App, a runner's workers with the warm pool, and the fake GitHub.
func TestPushBench(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: run `bash grading/app/jobs/bench/run.sh push [-pushes K]`")
	}
	start := time.Now()
	pushTable(t, *pushesFlag)
	fmt.Printf("\nbenchmark wall time: %.1f s\n", time.Since(start).Seconds())
}

// timedEngine is the runner's engine (the warm pool) as the benchmark sees it: it notes when each
// grading's build began, which is when Grader.Grade began (the stored Timings are durations).
type timedEngine struct {
	*docker.Pool
	mu    sync.Mutex
	began []time.Time
}

func (e *timedEngine) Build(ctx context.Context, dir string) (grading.BuildResult, error) {
	e.mu.Lock()
	e.began = append(e.began, time.Now())
	e.mu.Unlock()
	return e.Pool.Build(ctx, dir)
}

func (e *timedEngine) lastBuild() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.began) == 0 {
		return time.Time{}
	}
	return e.began[len(e.began)-1]
}

// runner is the App, a runner's workers (graders of them at once) on a warm pool of size
// poolSize, and the fake GitHub, in process; the pool is full when it returns.
func runner(t *testing.T, eng *docker.Engine, graders, poolSize int) (*apptest.App, *timedEngine) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	pool := docker.NewPool(ctx, eng, docker.PoolOptions{Size: poolSize}, quietLog())
	t.Cleanup(func() {
		stop()
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := pool.Close(cctx); err != nil {
			t.Errorf("tear down the sandbox pool: %v", err)
		}
	})
	te := &timedEngine{Pool: pool}
	cat := catalog.MustNew(catalog.Builtin())
	// Registered after the pool's cleanup, so it runs first: the River client stops (and its
	// gradings tear their sandboxes down) before the pool closes.
	a := apptest.New(t, apptest.Options{Engine: te, Challenges: cat.Challenges(), Lookup: cat.Lookup,
		Jobs: &jobs.Options{Graders: graders, Reporters: 2}, Log: quietLog()})
	for deadline := time.Now().Add(3 * time.Minute); pool.Stats().Ready < poolSize; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox pool holds %d of %d sandboxes after 3 minutes", pool.Stats().Ready, poolSize)
		}
	}
	return a, te
}

// pushed is one push followed to its completed check run, with the timestamps the system records
// on the way: the client's (posted, answered, done), River's grade job and the publish job queued
// with the verdict, the run's row, the verdict's timings, and when Grade began.
type pushed struct {
	repo, sha  string
	runID      int64
	posted     time.Time
	answered   time.Time
	done       time.Time // the fake GitHub holds the check run completed
	conclusion string
	hit        bool // the grading took a sandbox from the warm pool

	jobAttempted, started, completed time.Time // grade job picked up; runs.started_at, completed_at
	pubAttempted                     time.Time // the publish job queued with the verdict, picked up
	graded                           time.Time // Grade began (its build)
	v                                grading.Verdict
}

// post delivers a push of sha to branch of repo, with dir as its content, and notes the answer.
func postPush(t *testing.T, a *apptest.App, repo string, repoID int64, branch, sha, dir string) pushed {
	t.Helper()
	a.GitHub.SetTarball(owner, repo, sha, dir)
	p := pushed{repo: repo, sha: sha, posted: time.Now()}
	code, body, err := post(a.Hook, push(t, "grade-"+repo+"-"+sha[:12], repoID, repo, branch, sha))
	p.answered = time.Now()
	var out struct {
		Result string `json:"result"`
		RunID  int64  `json:"run_id"`
	}
	if err != nil || code != http.StatusAccepted || json.Unmarshal(body, &out) != nil || out.Result != "queued" {
		t.Fatalf("push %s to %s: %d %s %v", sha[:7], repo, code, body, err)
	}
	p.runID = out.RunID
	return p
}

// completedOn reports whether the fake holds p's check run completed, noting when and how.
func (p *pushed) completedOn(a *apptest.App) bool {
	for _, cr := range a.GitHub.CheckRuns(owner, p.repo) {
		if cr.HeadSHA == p.sha && cr.Status == "completed" {
			p.done, p.conclusion = time.Now(), cr.Conclusion
			return true
		}
	}
	return false
}

// record reads what the system stored about p's run: its row, its River jobs and its verdict.
func (p *pushed) record(t *testing.T, a *apptest.App) {
	t.Helper()
	ctx := context.Background()
	err := a.Store.Pool.QueryRow(ctx, `SELECT j.attempted_at, r.started_at, r.completed_at
		FROM runs r JOIN river_job j ON j.kind = 'grade' AND (j.args->>'run_id')::bigint = r.id
		WHERE r.id = $1`, p.runID).Scan(&p.jobAttempted, &p.started, &p.completed)
	if err != nil {
		t.Fatalf("run %d's timestamps: %v", p.runID, err)
	}
	// The publication queued in the verdict's transaction: the first inserted from then on.
	err = a.Store.Pool.QueryRow(ctx, `SELECT attempted_at FROM river_job
		WHERE kind = 'publish' AND (args->>'run_id')::bigint = $1 AND created_at >= $2 ORDER BY id LIMIT 1`,
		p.runID, p.completed).Scan(&p.pubAttempted)
	if err != nil {
		rows, _ := a.Store.Pool.Query(ctx, `SELECT id, created_at, attempted_at, state FROM river_job
			WHERE (args->>'run_id')::bigint = $1 ORDER BY id`, p.runID)
		var jobs []string
		for rows.Next() {
			var id int64
			var created time.Time
			var attempted *time.Time
			var state string
			_ = rows.Scan(&id, &created, &attempted, &state)
			jobs = append(jobs, fmt.Sprintf("%d created %s attempted %v %s", id, created.Format(time.RFC3339Nano), attempted, state))
		}
		rows.Close()
		t.Fatalf("run %d's publication of its verdict (stored %s): %v; its jobs: %s", p.runID, p.completed.Format(time.RFC3339Nano), err, strings.Join(jobs, "; "))
	}
	if p.v, err = a.Store.RunVerdict(ctx, p.runID); err != nil {
		t.Fatalf("run %d's verdict: %v", p.runID, err)
	}
}

// part is one slice of a push's time.
type part struct {
	name, note string
	of         func(p pushed) time.Duration
}

func dur(m grading.Millis) time.Duration { return time.Duration(m) }

// gradeEnd is when Grade returned: it began with the build, and its total is stored.
func (p pushed) gradeEnd() time.Time { return p.graded.Add(dur(p.v.Timings.Total)) }

// parts split a push's time, from posting it to its completed check run, into consecutive
// slices that add up to the whole.
var parts = []part{
	{"intake", "the webhook answered: delivery, submission, run and jobs stored in one transaction", func(p pushed) time.Duration { return p.answered.Sub(p.posted) }},
	{"queue wait", "answered (grade job inserted) → River hands the job to a grader", func(p pushed) time.Duration { return p.jobAttempted.Sub(p.answered) }},
	{"take", "engine ping, disk room, run marked in progress, its publication queued", func(p pushed) time.Duration { return p.started.Sub(p.jobAttempted) }},
	{"download", "the commit's tarball from the fake GitHub, unpacked", func(p pushed) time.Duration { return p.graded.Sub(p.started) }},
	{"build", "the image, cached: same content, same tag", func(p pushed) time.Duration { return dur(p.v.Timings.Build) }},
	{"provision", "sandbox ready: a pool hit checks a waiting one and creates the app container; a miss creates it all", func(p pushed) time.Duration { return dur(p.v.Timings.Provision) }},
	{"app start", "the app started and /healthz answered", func(p pushed) time.Duration { return dur(p.v.Timings.Start) }},
	{"scenarios", "**the challenge's scenarios, their deliberate waits included** (below)", scenarioTime},
	{"between scenarios", "faults cleared, the app restarted after a disruptive scenario", func(p pushed) time.Duration {
		return dur(p.v.Timings.Scenarios) - scenarioTime(p)
	}},
	{"rest of Grade", "harness, the verdict", func(p pushed) time.Duration {
		tm := p.v.Timings
		return dur(tm.Total - tm.Build - tm.Provision - tm.Start - tm.Scenarios)
	}},
	{"teardown + store", "Grade returned → verdict stored (a pool removes the sandbox in the background)", func(p pushed) time.Duration { return p.completed.Sub(p.gradeEnd()) }},
	{"publish pickup", "verdict stored (publish job inserted) → River hands it to a publisher", func(p pushed) time.Duration { return p.pubAttempted.Sub(p.completed) }},
	{"publish", "check run completed on the fake GitHub (token, update)", func(p pushed) time.Duration { return p.done.Sub(p.pubAttempted) }},
}

func total(p pushed) time.Duration { return p.done.Sub(p.posted) }

// scenarioTime is the scenarios' own time, from each one's start to its end.
func scenarioTime(p pushed) time.Duration {
	var d time.Duration
	for _, r := range p.v.Scenarios {
		d += dur(r.Duration)
	}
	return d
}

// platform is everything but the scenarios' own time.
func platform(p pushed) time.Duration { return total(p) - scenarioTime(p) }

// stats are nearest-rank p50, p90 and max.
func stats(ds []time.Duration) (p50, p90, mx time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return pct(s, 50), pct(s, 90), s[len(s)-1]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// pushTable pushes the payments reference k times, each a new commit, one at a time, and prints
// p50, p90 and max of push → completed check run and of each part, then every push.
func pushTable(t *testing.T, k int) {
	load := loadavg()
	eng := dockertest.Engine(t)
	a, te := runner(t, eng, 1, *poolFlag)
	a.Assign(t, name, repoID, "idempotent-payments", "alice")
	var ps []pushed
	for i := range k {
		sha := commit(fmt.Sprintf("push-%d", i))
		before := te.Stats()
		t.Logf("push %d of %d", i+1, k)
		p := postPush(t, a, name, repoID, "main", sha, reference)
		for deadline := p.posted.Add(6 * time.Minute); !p.completedOn(a); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the check run of %s did not complete within 6 minutes: %+v", sha[:7], a.GitHub.CheckRuns(owner, name))
			}
		}
		p.graded = te.lastBuild()
		p.hit = te.Stats().Hits > before.Hits
		p.record(t, a)
		if p.conclusion != "success" {
			t.Fatalf("push %d: the reference concluded %s; want success", i+1, p.conclusion)
		}
		ps = append(ps, p)
	}

	hits := 0
	for _, p := range ps {
		if p.hit {
			hits++
		}
	}
	fmt.Printf("\n%d pushes of the idempotent-payments reference, each a new commit, one at a time: the App, 1 grader, "+
		"2 publishers, a warm pool of %d (%d hits, %d misses), image cached; runtime %s; load average %s before, %s after.\n\n",
		k, *poolFlag, hits, k-hits, eng.Runtime(), load, loadavg())
	fmt.Println("| from posting the push | p50 | p90 | max | what |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name, note string, of func(pushed) time.Duration) {
		var ds []time.Duration
		for _, p := range ps {
			ds = append(ds, of(p))
		}
		p50, p90, mx := stats(ds)
		fmt.Printf("| %s | %s | %s | %s | %s |\n", name, secs(p50), secs(p90), secs(mx), note)
	}
	row("**check run completed**", "the whole: push → completed check run (goal: p50 ≤ 8 s)", total)
	for _, pt := range parts {
		row("… "+pt.name, pt.note, pt.of)
	}
	row("platform's share", "everything but the scenarios' own time", platform)

	// Each scenario's median: which of the scenarios' time is deliberate waiting.
	fmt.Println("\n| scenario | p50 | max |")
	fmt.Println("|---|---|---|")
	for i, s := range ps[0].v.Scenarios {
		var ds []time.Duration
		for _, p := range ps {
			ds = append(ds, dur(p.v.Scenarios[i].Duration))
		}
		p50, _, mx := stats(ds)
		fmt.Printf("| %s | %s | %s |\n", s.Slug, secs(p50), secs(mx))
	}

	fmt.Printf("\n| push | completed |")
	for _, pt := range parts {
		fmt.Printf(" %s |", pt.name)
	}
	fmt.Printf(" pool |\n|---|---|%s---|\n", strings.Repeat("---|", len(parts)))
	for i, p := range ps {
		fmt.Printf("| %d | %s |", i+1, secs(total(p)))
		for _, pt := range parts {
			fmt.Printf(" %s |", secs(pt.of(p)))
		}
		fmt.Printf(" %s |\n", map[bool]string{true: "hit", false: "miss"}[p.hit])
	}
}
