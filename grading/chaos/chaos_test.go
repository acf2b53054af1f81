package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// plan is how hard a chaos run shakes the system, and for how long.
type plan struct {
	pushes int           // at least this many pushes of the background stream
	every  time.Duration // between two of its pushes
	// The processes' configuration; "" is a variable's production default.
	hardCap, reconcileEvery, recoverEvery string
	runnerDown                            time.Duration // from a runner's SIGKILL to its restart
	pgDown                                time.Duration // Postgres stopped
	ghErrors                              time.Duration // GitHub answering 500, then as long 403 secondary rate limits
	retryAfter                            string        // on those 403s, seconds
	ghHang                                time.Duration // GitHub hanging, each request by hangEach
	hangEach                              time.Duration
	recoverWithin                         time.Duration // a fault's probe push must be completed by then
	settle                                time.Duration // after the last fault: everything published, swept
}

// shortPlan runs in the test command: a few seconds per fault, the reconciler and the delivery
// recovery every 3 s, a 45 s hard cap (a SIGKILLed runner's job is rescued 105 s, plus up to
// River's 30 s rescue interval, after it started; a grading takes 10–20 s).
var shortPlan = plan{pushes: 18, every: 10 * time.Second, hardCap: "45s", reconcileEvery: "3s", recoverEvery: "3s",
	runnerDown: 2 * time.Second, pgDown: 8 * time.Second, ghErrors: 8 * time.Second, retryAfter: "3",
	ghHang: 15 * time.Second, hangEach: 11 * time.Second, recoverWithin: 2 * time.Minute, settle: 3 * time.Minute}

// benchPlan is the benchmark's: production defaults (hard cap 120 s, reconciler every minute,
// delivery recovery every 2 minutes), Postgres down 20 s, GitHub failing for 2 minutes (a minute
// of 500s, a minute of secondary rate limits) and hanging for 2 minutes.
var benchPlan = plan{pushes: 36, every: 10 * time.Second, runnerDown: 10 * time.Second, pgDown: 20 * time.Second,
	ghErrors: time.Minute, retryAfter: "30", ghHang: 2 * time.Minute, hangEach: 12 * time.Second,
	recoverWithin: 8 * time.Minute, settle: 10 * time.Minute}

// TestChaos: `app serve`, two `runner work` (one per Docker engine), a Postgres cluster of the
// test's own and the fake GitHub delivering real webhook payloads. Pushes of a passing and a
// failing submission, some to pull requests, arrive while, one after another: a runner is
// SIGKILLed mid-grading and restarted, Postgres restarts, Postgres is stopped (deliveries fail:
// only the App's own recovery may bring them back), the second engine restarts mid-grading,
// GitHub answers 500s and then secondary rate limits, GitHub hangs past its 10 s. Then every
// push has exactly one completed check run with its verdict (an older push of a branch may be
// skipped or cancelled instead; a branch's last push never), every pull request one comment
// showing its branch's last push, no run unpublished, no job pending, no sandbox left on either
// engine. It prints each fault's recovery time.
func TestChaos(t *testing.T) { runChaos(t, shortPlan) }

// TestChaosBenchmark is TestChaos at full length, as a benchmark: HOLDFAST_BENCH=1 go test
// -run TestChaosBenchmark -v -timeout 60m ./grading/chaos/.
func TestChaosBenchmark(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: HOLDFAST_BENCH=1 go test -run TestChaosBenchmark -v -timeout 60m ./grading/chaos/")
	}
	runChaos(t, benchPlan)
}

// The background stream pushes to these branches in turn; the two feature branches have pull
// requests. Each fault's probe pushes to a branch of its own.
var (
	streamBranches = []string{"main", "feature-a", "fix", "feature-b"}
	pullRequests   = map[string]int{"feature-a": 1, "feature-b": 2}
)

// push is one push the test made, and what GitHub made of its delivery.
type push struct {
	n      int
	branch string
	sha    string
	sub    submission
	at     time.Time // first delivery
	guid   string
	status int // the App's answer to the first delivery; 0 without one
}

// world is the test's account of what it pushed and when GitHub showed each push completed.
type world struct {
	t    *testing.T
	fake *githubtest.Server

	deliver sync.Mutex // one delivery at a time: a branch's pushes arrive in order

	mu     sync.Mutex
	pushes []*push
	heads  map[string]string    // branch → its last push
	done   map[string]time.Time // sha → when its check run was first seen completed
}

// push pushes sub to branch: the commit's tarball, the pull request's new head, the push
// delivery and, for a pull request's branch, its synchronize delivery.
func (w *world) push(branch string, sub submission) *push {
	w.deliver.Lock()
	defer w.deliver.Unlock()
	w.mu.Lock()
	p := &push{n: len(w.pushes) + 1, branch: branch, sub: sub}
	p.sha = commit(fmt.Sprintf("chaos-%03d", p.n))
	before := w.heads[branch]
	if before == "" {
		before = zeroSHA
	}
	w.heads[branch] = p.sha
	w.pushes = append(w.pushes, p)
	w.mu.Unlock()
	w.fake.SetTarball(owner, name, p.sha, sub.dir)
	pr := pullRequests[branch]
	if pr != 0 {
		w.fake.SetPull(owner, name, pr, branch, p.sha, "main")
	}
	p.at = time.Now()
	guid, status := w.fake.Deliver("push", pushPayload(w.t, branch, before, p.sha))
	w.mu.Lock()
	p.guid, p.status = guid, status
	w.mu.Unlock()
	if pr != 0 {
		w.fake.Deliver("pull_request", pullPayload(w.t, "synchronize", pr, branch, p.sha))
	}
	return p
}

// sample records when each check run is first seen completed, until stop is closed.
func (w *world) sample(stop <-chan struct{}) {
	for {
		now := time.Now()
		for _, cr := range w.fake.CheckRuns(owner, name) {
			if cr.Status != "completed" {
				continue
			}
			w.mu.Lock()
			if _, ok := w.done[cr.HeadSHA]; !ok {
				w.done[cr.HeadSHA] = now
			}
			w.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// completedAt is when p's check run was first seen completed.
func (w *world) completedAt(p *push) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.done[p.sha]
	return at, ok
}

// snapshot is a copy of the pushes so far and of the branches' heads.
func (w *world) snapshot() ([]push, map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ps []push
	for _, p := range w.pushes {
		ps = append(ps, *p)
	}
	return ps, maps.Clone(w.heads)
}

// fault is one thing that goes wrong: ready (if set) waits for the moment, do returns when it is
// over.
type fault struct {
	name      string
	ready, do func()
}

// recovery is what the test measured of one fault.
type recovery struct {
	name    string
	lasted  time.Duration
	ended   time.Time
	probe   *push
	back    time.Duration // fault over → its probe push completed on GitHub; -1 if it did not
	drained time.Duration // fault over → every push made before completed on GitHub
}

func runChaos(t *testing.T, pl plan) {
	started := time.Now()
	eng := dockertest.Engine(t) // the first host's engine; Docker or a reason to skip
	host2 := secondEngine(t)
	pg := newCluster(t)
	ctx := context.Background()
	st := openStore(t, pg.URL)
	if err := st.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	seed(t, st)
	ns := eng.Namespace() // both runners'
	bin := buildCommands(t)
	sweepAtEnd(t, bin, ns, "", host2)
	for _, sub := range []submission{passing, failing} {
		shareImage(t, eng, host2, sub.dir)
	}
	fake := newGitHub(t)
	logs := logDir(t)

	addr := freeAddr(t)
	app := startProc(t, logs, "app", append(appEnv(fake, pg.URL), "HOLDFAST_RECONCILE_EVERY="+pl.reconcileEvery,
		"HOLDFAST_RECOVER_DELIVERIES_EVERY="+pl.recoverEvery, "GITHUB_WEBHOOK_SECRET="+secret, "HOLDFAST_LISTEN="+addr,
		"HOLDFAST_PUBLIC_URL=http://"+addr), bin.app, "serve")
	waitUntil(t, time.Minute, "app serve to answer /readyz", func() bool {
		if app.died() {
			t.Fatalf("app serve exited:\n%s", app.problems(40))
		}
		code, _ := get("http://" + addr + "/readyz")
		return code == http.StatusOK
	})
	fake.SetWebhook("http://"+addr+"/webhooks/github", []byte(secret))
	runner := runnerEnv(fake, pg.URL, ns, pl.hardCap)
	r1 := startProc(t, logs, "runner-1", runner, bin.runner, "work") // the first engine: the test's own
	r2 := startProc(t, logs, "runner-2", append(slices.Clone(runner), "DOCKER_HOST="+host2), bin.runner, "work")
	procs := []*proc{app, r1, r2}
	r1.waitLogged(time.Minute, "runner working")
	r2.waitLogged(time.Minute, "runner working")

	w := &world{t: t, fake: fake, heads: map[string]string{}, done: map[string]time.Time{}}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() { w.sample(stopSampling); close(sampled) }()
	defer func() { close(stopSampling); <-sampled }()

	// The pull requests exist before anything else happens: a pull request GitHub told the App
	// of gets the sticky comment of every later push to its branch.
	for branch, number := range pullRequests {
		fake.SetPull(owner, name, number, branch, zeroSHA, "main")
		if _, status := fake.Deliver("pull_request", pullPayload(t, "opened", number, branch, commit("base"))); status >= 300 {
			t.Fatalf("pull_request opened for %s: %d", branch, status)
		}
	}
	// Baseline: one push to a quiet system, pushed to completed.
	base := w.push("probe-baseline", passing)
	waitUntil(t, pl.recoverWithin, "the baseline push to complete", func() bool { _, ok := w.completedAt(base); return ok })
	baseAt, _ := w.completedAt(base)
	baseline := baseAt.Sub(base.at)
	setup := time.Since(started)

	// The stream: pushes of both submissions in turn over the branches, every fifth followed at
	// once by a newer push to the same branch (superseding it), until the faults are over and
	// there were at least pl.pushes.
	faultsOver := make(chan struct{})
	quit := make(chan struct{}) // the test is ending, maybe early: no more pushes
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		tick := time.NewTicker(pl.every)
		defer tick.Stop()
		for i := 0; i <= 4*pl.pushes; i++ { // 4×: the faults took far longer than planned
			select {
			case <-faultsOver:
				if i >= pl.pushes {
					return
				}
			default:
			}
			branch := streamBranches[i%len(streamBranches)]
			sub := passing
			if i%3 == 1 {
				sub = failing
			}
			w.push(branch, sub)
			if i%5 == 4 {
				w.push(branch, passing)
			}
			select {
			case <-tick.C:
			case <-quit:
				return
			}
		}
	}()
	defer func() { close(quit); <-streamed }()

	// grading waits (at most a minute) until host's runner has a sandbox up: a grading in flight.
	grading := func(host, runner string) func() {
		return func() {
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				if sandboxes(t, host, ns) != "" {
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
			t.Logf("%s had no grading in flight within a minute; the fault comes anyway", runner)
		}
	}
	faults := []fault{
		{"runner 1 SIGKILLed mid-grading, restarted", grading("", "runner 1"), func() {
			r1.kill()
			time.Sleep(pl.runnerDown)
			r1.start()
			r1.waitLogged(time.Minute, "runner working")
		}},
		{"Postgres restarted", nil, pg.Restart},
		{fmt.Sprintf("Postgres stopped %s", pl.pgDown), nil, func() {
			pg.Stop()
			down := time.Now()
			// A push to a pull request's branch now is not taken; right after Postgres is back a
			// newer push to the same branch is, before the App's recovery finds the first again.
			w.push("feature-a", failing)
			time.Sleep(time.Until(down.Add(pl.pgDown)))
			pg.Start()
			w.push("feature-a", passing)
		}},
		{"second dockerd restarted mid-grading", grading(host2, "runner 2"), func() {
			mustEngineScript(t, "stop")
			mustEngineScript(t, "start")
		}},
		{fmt.Sprintf("GitHub 500 for %s, then 403 secondary rate limit (Retry-After %s s) for %s", pl.ghErrors, pl.retryAfter, pl.ghErrors), nil, func() {
			fake.SetOutage(&githubtest.Outage{Status: http.StatusInternalServerError})
			time.Sleep(pl.ghErrors)
			fake.SetOutage(&githubtest.Outage{Status: http.StatusForbidden, Header: http.Header{"Retry-After": {pl.retryAfter}}})
			time.Sleep(pl.ghErrors)
			fake.SetOutage(nil)
		}},
		{fmt.Sprintf("GitHub hanging %s per request for %s", pl.hangEach, pl.ghHang), nil, func() {
			fake.SetOutage(&githubtest.Outage{Hang: pl.hangEach})
			time.Sleep(pl.ghHang)
			fake.SetOutage(nil)
		}},
	}
	var recoveries []*recovery
	for i, f := range faults {
		if f.ready != nil {
			f.ready()
		}
		t.Logf("fault %d: %s", i+1, f.name)
		began := time.Now()
		f.do()
		r := &recovery{name: f.name, ended: time.Now(), back: -1}
		r.lasted = r.ended.Sub(began)
		r.probe = w.push(fmt.Sprintf("probe-%d", i+1), passing)
		recoveries = append(recoveries, r)
		deadline := time.Now().Add(pl.recoverWithin)
		for time.Now().Before(deadline) {
			if at, ok := w.completedAt(r.probe); ok {
				r.back = at.Sub(r.ended)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if r.back < 0 {
			t.Errorf("after %q, a push made when it was over was not completed on GitHub within %s", f.name, pl.recoverWithin)
		}
		for _, p := range procs {
			if p.died() {
				t.Fatalf("%s exited by itself during %q:\n%s", p.name, f.name, p.problems(40))
			}
		}
	}
	close(faultsOver)
	<-streamed
	faultsEnded := time.Now()

	// Settle: everything published, nothing pending, every sandbox swept.
	settled := func() bool {
		ps, _ := w.snapshot()
		for _, p := range ps {
			crs := checkRunsOf(fake, p.sha)
			if len(crs) == 0 || slices.ContainsFunc(crs, func(cr githubtest.CheckRun) bool { return cr.Status != "completed" }) {
				return false
			}
		}
		if unfinished(t, st) != "" || pendingJobs(t, st) != "" {
			return false
		}
		return sandboxes(t, "", ns) == "" && sandboxes(t, host2, ns) == ""
	}
	deadline := time.Now().Add(pl.settle)
	for !settled() && time.Now().Before(deadline) {
		time.Sleep(time.Second)
	}
	settle := time.Since(faultsEnded)

	// Every push: exactly one check run, completed with its verdict; only an older push of a
	// branch may instead be skipped (superseded while queued) or cancelled (while graded).
	ps, heads := w.snapshot()
	deliveries := fake.Deliveries()
	recovered := 0
	for _, p := range ps {
		crs := checkRunsOf(fake, p.sha)
		head := heads[p.branch] == p.sha
		what := fmt.Sprintf("push %d (%s of %s to %s, delivered %s)", p.n, p.sha[:7], p.sub.dir[strings.LastIndex(p.sub.dir, "/")+1:], p.branch,
			deliveryFate(deliveries, p.guid))
		switch {
		case len(crs) != 1:
			t.Errorf("%s: %d check runs; want exactly one: %s", what, len(crs), describe(crs))
		case crs[0].Status != "completed":
			t.Errorf("%s: its check run is %s (history %v); want completed", what, crs[0].Status, crs[0].History)
		case crs[0].Conclusion == p.sub.conclusion && crs[0].Output.Title == p.sub.title:
		case !head && (crs[0].Conclusion == "skipped" || crs[0].Conclusion == "cancelled"):
		case head:
			t.Errorf("%s is its branch's last push: completed %s %q (history %v); want %s %q", what, crs[0].Conclusion,
				crs[0].Output.Title, crs[0].History, p.sub.conclusion, p.sub.title)
		default:
			t.Errorf("%s: completed %s %q (history %v); want %s %q, or skipped or cancelled", what, crs[0].Conclusion,
				crs[0].Output.Title, crs[0].History, p.sub.conclusion, p.sub.title)
		}
		if p.status < 200 || p.status > 299 {
			recovered++
		}
	}
	// A push is superseded by a newer push of its branch, never by an older one (a push whose
	// delivery failed and that the App's recovery brought back after the newer one was taken).
	order := map[string]push{}
	for _, p := range ps {
		order[p.sha] = p
	}
	for sha, by := range supersededBy(t, st) {
		older, newer := order[sha], order[by]
		if newer.n != 0 && newer.n < older.n {
			t.Errorf("push %d (%s to %s, delivered %s) was superseded by push %d (%s, delivered %s), an older push of the branch "+
				"that the App took after it: the newer commit's check run reads %q, and the older commit was graded in its place",
				older.n, sha[:7], older.branch, deliveryFate(deliveries, older.guid), newer.n, by[:7], deliveryFate(deliveries, newer.guid),
				conclusionOf(fake, sha))
		}
	}
	// Every delivery GitHub made was taken in the end, those that failed through the App's own
	// recovery (the test never redelivers).
	for guid, ds := range byGUID(deliveries) {
		if !slices.ContainsFunc(ds, func(d githubtest.Delivery) bool { return d.StatusCode >= 200 && d.StatusCode <= 299 }) {
			t.Errorf("delivery %s (%s) was never taken: %s", guid, ds[0].Event, deliveryFate(deliveries, guid))
		}
	}
	// One sticky comment per pull request, showing its branch's last push.
	for branch, number := range pullRequests {
		var bot []githubtest.Comment
		for _, c := range fake.Comments(owner, name, number) {
			if c.Login == fake.BotLogin {
				bot = append(bot, c)
			}
		}
		head := heads[branch]
		sub := pushOf(ps, head).sub
		if len(bot) != 1 {
			t.Errorf("pull request #%d (%s): %d comments by %s; want one", number, branch, len(bot), fake.BotLogin)
			continue
		}
		if !strings.Contains(bot[0].Body, "commit "+head[:7]) || !strings.Contains(bot[0].Body, sub.title) {
			first, _, _ := strings.Cut(bot[0].Body, "\n\n###")
			t.Errorf("pull request #%d (%s): the comment shows %q; want the branch's last push, %s: %s", number, branch,
				first+" …", head[:7], sub.title)
		}
	}
	if s := unfinished(t, st); s != "" {
		t.Errorf("runs not published as far as their state goes, %s after the faults:\n%s", settle.Round(time.Second), s)
	}
	if s := pendingJobs(t, st); s != "" {
		t.Errorf("River jobs still pending %s after the faults:\n%s", settle.Round(time.Second), s)
	}
	for _, host := range []string{"", host2} {
		if left := sandboxes(t, host, ns); left != "" {
			t.Errorf("left on engine %q %s after the faults: %s", host, settle.Round(time.Second), left)
		}
	}
	for _, p := range procs {
		if p.died() {
			t.Errorf("%s exited by itself:\n%s", p.name, p.problems(40))
		}
	}

	// The report.
	for _, r := range recoveries {
		r.drained = 0
		for _, p := range ps {
			if p.at.After(r.ended) {
				continue
			}
			if at, ok := w.completedAt(&p); ok && at.Sub(r.ended) > r.drained {
				r.drained = at.Sub(r.ended)
			} else if !ok {
				r.drained = -1
				break
			}
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "fault\tlasted\tback (fault over → a new push completed)\tdrained (fault over → every earlier push completed)\n")
	fmt.Fprintf(tw, "none (baseline push)\t-\t%s\t-\n", secs(baseline))
	for _, r := range recoveries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, secs(r.lasted), secs(r.back), secs(r.drained))
	}
	tw.Flush()
	superseded := 0
	for _, p := range ps {
		if crs := checkRunsOf(fake, p.sha); len(crs) == 1 && (crs[0].Conclusion == "skipped" || crs[0].Conclusion == "cancelled") {
			superseded++
		}
	}
	t.Logf("chaos: %d pushes (%d deliveries GitHub made, %d pushes first answered with an error or not at all), %d superseded; "+
		"set-up %s, faults %s, settled %s after them, %s in all\n%s",
		len(ps), len(deliveries), recovered, superseded, secs(setup), secs(faultsEnded.Sub(started)-setup), secs(settle),
		secs(time.Since(started)), b.String())
}

func secs(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func pushOf(ps []push, sha string) push {
	for _, p := range ps {
		if p.sha == sha {
			return p
		}
	}
	return push{}
}

func describe(crs []githubtest.CheckRun) string {
	var out []string
	for _, cr := range crs {
		out = append(out, fmt.Sprintf("#%d %s %s %q %v", cr.ID, cr.Status, cr.Conclusion, cr.Output.Title, cr.History))
	}
	return strings.Join(out, "; ")
}

func byGUID(ds []githubtest.Delivery) map[string][]githubtest.Delivery {
	out := map[string][]githubtest.Delivery{}
	for _, d := range ds {
		out[d.GUID] = append(out[d.GUID], d)
	}
	return out
}

// deliveryFate tells how GitHub's attempts at delivery guid went, e.g. "500, then 202 (redelivered)".
func deliveryFate(ds []githubtest.Delivery, guid string) string {
	var parts []string
	for _, d := range ds {
		if d.GUID != guid {
			continue
		}
		s := d.Status
		if d.StatusCode != 0 {
			s = fmt.Sprint(d.StatusCode)
		}
		if d.Redelivery {
			s += " (redelivered)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", then ")
}

// supersededBy maps the commit of every superseded run to the commit of the run that superseded it.
func supersededBy(t *testing.T, st *store.Store) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(query(t, st, `SELECT s.sha, s2.sha FROM runs r JOIN submissions s ON s.id = r.submission_id
		JOIN runs r2 ON r2.id = r.superseded_by JOIN submissions s2 ON s2.id = r2.submission_id`), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			out[f[0]] = f[1]
		}
	}
	return out
}

func conclusionOf(fake *githubtest.Server, sha string) string {
	crs := checkRunsOf(fake, sha)
	if len(crs) == 0 {
		return "no check run"
	}
	return crs[0].Conclusion + " " + crs[0].Output.Title
}

// unfinished lists the runs whose GitHub state lags their stored state: a completed run must be
// published to 'commented' (check run completed, every pull request's comment written), a
// superseded one at least to 'completed'.
func unfinished(t *testing.T, st *store.Store) string {
	return query(t, st, `SELECT r.id, s.sha, r.branch, r.status, r.published FROM runs r JOIN submissions s ON s.id = r.submission_id
		WHERE NOT r.final AND CASE WHEN r.status = 'superseded' THEN r.published NOT IN ('completed', 'commented')
		ELSE r.published <> 'commented' END ORDER BY r.id`)
}

// pendingJobs lists River's grading and publishing jobs not finished (the periodic jobs come and
// go on their own).
func pendingJobs(t *testing.T, st *store.Store) string {
	return query(t, st, `SELECT id, kind, state, attempt, args::text, COALESCE(errors[array_length(errors, 1)]->>'error', '')
		FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')
		AND kind NOT IN ('reconcile', 'recover_deliveries', 'takehome_scan') ORDER BY id`)
}

// query runs sql on the App's database and returns its rows, one a line; "" if none.
func query(t *testing.T, st *store.Store, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := st.Pool.Query(ctx, sql)
	if err != nil {
		return "query failed: " + err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vs, err := rows.Values()
		if err != nil {
			return "query failed: " + err.Error()
		}
		var cols []string
		for _, v := range vs {
			cols = append(cols, fmt.Sprint(v))
		}
		out = append(out, "  "+strings.Join(cols, " "))
	}
	if err := rows.Err(); err != nil {
		return "query failed: " + err.Error()
	}
	return strings.Join(out, "\n")
}
