package bench_test

// Intake never waits on GitHub: a burst of signed pushes to the App as `app serve` runs it (the
// webhook handler, and River working the github queue with 10 publishers on a pool of
// store.Conns(10, 32)) while the fake GitHub is healthy, rate-limits everything (403, secondary
// limit, Retry-After: 30), fails everything (500) or hangs every call (30 s). Every delivery must
// be answered 202 and stored with its grade and publish jobs, whatever GitHub does; latency is
// reported, not asserted. TestIntakeBench (HOLDFAST_BENCH=1) prints the table:
//
//	bash grading/app/jobs/bench/run.sh intake
//
// TestIntakeDuringOutage is the same check, small (100 pushes while GitHub answers 500, and
// while it hangs), in the ordinary suite: a few seconds, with Postgres (storetest).

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	"github.com/holdfast-ci/holdfast/grading/metrics"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const (
	intakePushes   = 1000
	intakeInFlight = 64
	// intakeRepos assignments (one per learner) take the pushes; every push is a new branch of
	// one of them (intakePushes/intakeRepos branches each), so that no push supersedes another
	// and each stores exactly one run, one grade job and one publish job.
	intakeRepos = 25
	intakeRepo0 = 7000 // the first assignment repository's id
	// deliveryTimeout is how long GitHub waits for an answer before it counts a delivery as
	// failed; the bench's client gives up there too. burstBound caps a whole burst.
	deliveryTimeout = 10 * time.Second
	burstBound      = 2 * time.Minute
)

// condition is what GitHub does during a burst.
type condition struct {
	name, short string
	outage      *githubtest.Outage // nil: GitHub answers
	// publishers says River works the github queue (as in `app serve`); without them the
	// client only inserts, and GitHub is never called: the floor of the handler alone.
	publishers bool
}

func conditions() []condition {
	return []condition{
		{name: "no publishers (insert-only River client: GitHub never called)", short: "none"},
		{name: "healthy (baseline)", short: "healthy", publishers: true},
		{name: "403 secondary rate limit, `Retry-After: 30`", short: "403", publishers: true,
			outage: &githubtest.Outage{Status: http.StatusForbidden, Header: http.Header{"Retry-After": {"30"}}}},
		{name: "500 on every call", short: "500", publishers: true, outage: &githubtest.Outage{Status: http.StatusInternalServerError}},
		{name: "every call hangs 30 s", short: "hang", publishers: true, outage: &githubtest.Outage{Hang: 30 * time.Second}},
	}
}

func TestIntakeBench(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: run `bash grading/app/jobs/bench/run.sh intake` (or HOLDFAST_BENCH=1 go test -run TestIntakeBench -v ./grading/app/jobs/bench/ with HOLDFAST_TEST_DATABASE_URL set)")
	}
	rounds := benchRounds(3)
	start, load := time.Now(), loadavg()
	conds := conditions()
	rows := make([][2][]intakeRow, len(conds)) // by condition, then path (before, group commit), then round
	for round := range rounds {
		for i, c := range conds { // the conditions alternate, so that other load on the machine spreads over all
			for k := range 2 {
				path := (k + round + i) % 2 // and which path goes first alternates too
				how := intakeSetup{perDelivery: path == 0}
				t.Run(fmt.Sprintf("round %d: %s, %s", round+1, c.short, how), func(t *testing.T) {
					t.Logf("intake, round %d/%d: %s, %s", round+1, rounds, c.name, how)
					rows[i][path] = append(rows[i][path], runIntake(t, c, intakePushes, how))
				})
				if t.Failed() {
					t.FailNow()
				}
			}
		}
	}
	printIntake(rows)
	fmt.Printf("\n%d CPUs; load average (1 min) %s before the first row, %s after the last (the bench keeps about 2–3 busy itself; more is other work).\n",
		runtime.NumCPU(), load, loadavg())
	fmt.Printf("intake benchmark wall time: %.1f s\n", time.Since(start).Seconds())
}

// TestIntakeDuringOutage is the bench's check in small, in the ordinary suite: while GitHub
// fails or hangs every call, 100 pushes arrive, 64 at a time; each is answered 202 and stored
// with its two jobs.
func TestIntakeDuringOutage(t *testing.T) {
	for _, c := range conditions()[3:] { // 500, hang
		t.Run(c.short, func(t *testing.T) {
			r := runIntake(t, c, 100, intakeSetup{})
			if len(r.lat) == 0 {
				return // nothing answered: runIntake has said so
			}
			t.Logf("100 pushes while GitHub %s: p50 %s, p99 %s, max %s; %d GitHub requests during the burst; publish jobs %s",
				c.name, ms(pct(r.lat, 50)), ms(pct(r.lat, 99)), ms(r.lat[len(r.lat)-1]), r.gh.arrived, r.jobs())
		})
	}
}

// benchRounds is how many rounds a bench runs: HOLDFAST_BENCH_ROUNDS (1–10), else def.
func benchRounds(def int) int {
	if k, err := strconv.Atoi(os.Getenv("HOLDFAST_BENCH_ROUNDS")); err == nil && k > 0 && k <= 10 {
		return k
	}
	return def
}

// intakeRow is one burst under one condition, and what Postgres held right after it.
type intakeRow struct {
	cond condition
	how  intakeSetup
	n    int
	lat  []time.Duration // of answered deliveries, sorted
	// server is each answer's time inside the App's handler (from net/http's call to the
	// handler's return), sorted; lat minus server is the client, loopback and scheduling.
	server []time.Duration
	wall   time.Duration
	codes  map[string]int // "202" (queued), other statuses and results, "timeout", "error"
	// Stored after the burst.
	subs, runs, grades, publishes, paired, lost int
	publish                                     map[string]int   // publish jobs by River state
	snoozed, failedAttempts                     int              // publish jobs snoozed at least once; errors recorded
	gh                                          ghCount          // GitHub requests during the burst
	logs                                        logCounts        // the App's warnings and errors (River and publishers)
	conns                                       [2]int32         // the pool's open connections before and after the burst
	cpu                                         [2]time.Duration // CPU time of Postgres' processes and of this one during the burst
}

// intakeSetup is how the App stores the deliveries: with group commit (the default) or per
// delivery (the path before, beforeGroupCommit), and whether every statement is traced.
type intakeSetup struct {
	perDelivery bool
	intake      *store.IntakeOpts
	trace       *sqlTrace
}

func (s intakeSetup) String() string {
	if s.perDelivery {
		return "before: a transaction per delivery"
	}
	return "group commit"
}

// runIntake starts the App in process on a fresh database, sets GitHub's condition, sends n
// pushes with intakeInFlight in flight and checks that every one was stored with its jobs.
func runIntake(t *testing.T, c condition, n int, how intakeSetup) intakeRow {
	t.Helper()
	ctx := context.Background()
	_, dbURL := storetest.New(t) // a fresh, migrated database, dropped at the end
	st, err := openStore(ctx, dbURL, how.trace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.SyncChallenges(ctx, catalog.MustNew(catalog.Builtin()).Challenges()); err != nil {
		t.Fatal(err)
	}

	fake := githubtest.New(t)
	fake.AddInstallation(inst, owner)
	for i := range intakeRepos {
		id, repo := int64(intakeRepo0+i), fmt.Sprintf("pay-s%02d", i)
		fake.AddRepo(inst, owner, repo, &githubtest.RepoOpts{ID: id})
		if _, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: inst, RepoID: id, Owner: owner, Name: repo,
			Challenge: "idempotent-payments", User: fmt.Sprintf("student%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var gh ghCounter
	front := httptest.NewServer(gh.wrap(fake)) // the fake, counted
	t.Cleanup(front.Close)

	var logs logCount
	appLog := slog.New(&logs) // River's and the publishers' logs: counted, not printed
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: front.URL}, appLog)
	if err != nil {
		t.Fatal(err)
	}
	// A running App holds an installation token already. Without one, every publisher would
	// queue behind a single token request (ghinstallation refreshes under a lock) and GitHub
	// would see one call at a time: the outage must meet the publishers' own calls.
	if _, _, err := app.Installation(inst).FindCheckRun(ctx, owner, "pay-s00", commit("warm"), "0"); err != nil {
		t.Fatal(err)
	}
	fake.SetOutage(c.outage) // before River starts: even its first call meets it
	opts := jobs.Options{}
	if c.publishers {
		opts.Reporters = jobs.AppReporters
	}
	rc, err := jobs.NewClient(jobs.Deps{Store: st, GitHub: app, PublicURL: "http://holdfast.test", Log: appLog}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.publishers {
		if err := rc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			rc.StopAndCancel(sctx)
		})
	}
	var hook http.Handler = beforeGroupCommit(st, rc)
	if !how.perDelivery {
		hook, err = webhook.NewWithOpts([]byte(secret), st, rc, quietLog(), // the handler's own errors are printed
			&webhook.Opts{Intake: how.intake})
		if err != nil {
			t.Fatal(err)
		}
	}
	var served serverTimes
	srv := httptest.NewServer(served.wrap(metrics.Webhook(hook))) // as cmd/app routes POST /webhooks/github
	t.Cleanup(srv.Close)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: intakeInFlight, MaxConnsPerHost: intakeInFlight},
		Timeout: deliveryTimeout}
	t.Cleanup(hc.CloseIdleConnections)
	var pushes, strangers []delivery
	ids := map[string]bool{}
	for i := range n {
		r := i % intakeRepos
		d := push(t, fmt.Sprintf("intake-%04d", i), int64(intakeRepo0+r), fmt.Sprintf("pay-s%02d", r),
			fmt.Sprintf("work-%02d", i/intakeRepos), fmt.Sprintf("%040x", 0xc0ffee000+i))
		pushes, ids[d.id] = append(pushes, d), true
	}
	for i := range intakeInFlight {
		strangers = append(strangers, push(t, fmt.Sprintf("warmup-%03d", i), intakeRepo0+1000, "not-an-assignment", "main", fmt.Sprintf("%040x", i+1)))
	}
	bctx, cancel := context.WithTimeout(ctx, burstBound)
	defer cancel()
	fire(bctx, hc, srv.URL, strangers, intakeInFlight) // opens the connections; stores nothing

	if how.trace != nil {
		how.trace.reset()
	}
	served.reset()
	before, conns := gh.snapshot(), st.Pool.Stat().TotalConns()
	pg0, self0 := cpuTicks()
	r := fire(bctx, hc, srv.URL, pushes, intakeInFlight)
	pg1, self1 := cpuTicks()
	r.cpu = [2]time.Duration{pg1 - pg0, self1 - self0}
	r.gh = gh.snapshot().since(before)
	r.conns = [2]int32{conns, st.Pool.Stat().TotalConns()}
	r.cond, r.n, r.how = c, n, how
	r.server = served.sorted()
	r.logs = logs.snapshot()

	// What Postgres holds, at once: the publishers are still at work.
	q := func(sql string, dst ...any) {
		t.Helper()
		if err := st.Pool.QueryRow(ctx, sql).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	r.publish = map[string]int{}
	rows, err := st.Pool.Query(ctx, `SELECT state::text, count(*) FROM river_job WHERE kind='publish' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var state string
		var k int
		if err := rows.Scan(&state, &k); err != nil {
			t.Fatal(err)
		}
		r.publish[state] = k
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	q(`SELECT count(*) FILTER (WHERE metadata ? 'snoozes'), coalesce(sum(coalesce(array_length(errors, 1), 0)), 0)
		FROM river_job WHERE kind='publish'`, &r.snoozed, &r.failedAttempts)
	q(`SELECT count(*) FROM submissions`, &r.subs)
	q(`SELECT count(*) FROM runs`, &r.runs)
	q(`SELECT count(*) FILTER (WHERE kind='grade'), count(*) FILTER (WHERE kind='publish') FROM river_job`, &r.grades, &r.publishes)
	// Each run has exactly one grade job and one publish job naming it.
	q(`SELECT count(*) FROM runs r JOIN (SELECT (args->>'run_id')::bigint AS id,
			count(*) FILTER (WHERE kind='grade') AS g, count(*) FILTER (WHERE kind='publish') AS p
			FROM river_job WHERE kind IN ('grade','publish') GROUP BY 1) j ON j.id = r.id
		WHERE j.g = 1 AND j.p = 1`, &r.paired)
	stored := map[string]bool{}
	drows, err := st.Pool.Query(ctx, `SELECT coalesce(delivery_id, '') FROM submissions`)
	if err != nil {
		t.Fatal(err)
	}
	for drows.Next() {
		var id string
		if err := drows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !ids[id] {
			t.Errorf("a submission of delivery %q, which was never sent", id)
		}
		stored[id] = true
	}
	if err := drows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		if !stored[id] {
			r.lost++
		}
	}

	if r.codes["202"] != n {
		t.Errorf("%s: answers %v; want %d × 202 queued", c.name, r.codes, n)
	}
	if r.lost != 0 || r.subs != n || r.runs != n || r.grades != n || r.publishes != n || r.paired != n {
		t.Errorf("%s: stored %d submissions, %d runs, %d grade and %d publish jobs, %d runs with exactly their two jobs, %d deliveries lost; want %d, %d, %d, %d, %d and 0",
			c.name, r.subs, r.runs, r.grades, r.publishes, r.paired, r.lost, n, n, n, n, n)
	}
	if c.publishers && r.gh.arrived == 0 { // a short burst may end before River fetched a job
		for deadline := time.Now().Add(15 * time.Second); gh.snapshot().since(before).arrived == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s: GitHub got no call within 15 s of the burst: the publishers did not run", c.name)
				break
			}
		}
	}
	return r
}

// beforeGroupCommit is the App's push intake as it was before group commit, for the "before"
// rows: it verifies and decodes a push as webhook.Handler does, then stores it in a transaction
// of its own, a statement per step (the assignment, whether it is a refactor's, the delivery,
// GitHub's first try, the submission and run, the jobs). It takes only pushes, and answers as
// the handler does.
func beforeGroupCommit(st *store.Store, rc *river.Client[pgx.Tx]) http.Handler {
	type push struct {
		Ref, After string
		Pusher     struct{ Name string }
		Repository struct {
			ID    int64
			Name  string
			Owner struct{ Login string }
		}
	}
	answer := func(r *http.Request) (int, map[string]any) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 25<<20+1))
		if err != nil || !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(webhook.Signature([]byte(secret), body))) {
			return http.StatusUnauthorized, map[string]any{"error": "missing or invalid X-Hub-Signature-256"}
		}
		var p push
		if err := json.Unmarshal(body, &p); err != nil || r.Header.Get("X-GitHub-Event") != "push" {
			return http.StatusBadRequest, map[string]any{"error": "the before path takes pushes only"}
		}
		ctx, delivery, branch := r.Context(), r.Header.Get("X-GitHub-Delivery"), strings.TrimPrefix(p.Ref, "refs/heads/")
		a, err := st.AssignmentByRepo(ctx, p.Repository.ID, p.Repository.Owner.Login, p.Repository.Name)
		if errors.Is(err, store.ErrNotFound) {
			return http.StatusAccepted, map[string]any{"result": "not an assignment repository"}
		}
		if err == nil {
			_, err = st.IsRefactor(ctx, a.Challenge) // the bench has no refactor assignments
		}
		if err != nil {
			return http.StatusInternalServerError, map[string]any{"error": err.Error()}
		}
		out := map[string]any{"result": "delivery seen before: nothing new to do"}
		code := http.StatusOK
		err = pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) error {
			fresh, err := store.ClaimDelivery(ctx, tx, delivery, "grade")
			if err != nil || !fresh {
				return err
			}
			received, err := store.OriginalDeliveryTime(ctx, tx, delivery)
			if err != nil {
				return err
			}
			runID, superseded, err := store.CreateRun(ctx, tx, store.Submission{AssignmentID: a.ID, SHA: p.After,
				Ref: "refs/heads/" + branch, Branch: branch, Pusher: p.Pusher.Name, DeliveryID: delivery, ReceivedAt: received})
			if err != nil {
				return err
			}
			batch := []river.InsertManyParams{{Args: jobs.PublishArgs{RunID: runID}}, {Args: jobs.GradeArgs{RunID: runID}}}
			for _, old := range superseded {
				batch = append(batch, river.InsertManyParams{Args: jobs.PublishArgs{RunID: old}})
			}
			if _, err := rc.InsertManyTx(ctx, tx, batch); err != nil {
				return err
			}
			code, out = http.StatusAccepted, map[string]any{"result": "queued", "run_id": runID, "superseded": superseded}
			return nil
		})
		if err != nil {
			return http.StatusInternalServerError, map[string]any{"error": err.Error()}
		}
		return code, out
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, out := answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(out)
	})
}

// serverTimes records how long the App's handler took for each request.
type serverTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *serverTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		next.ServeHTTP(w, r)
		d := time.Since(t0)
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
	})
}

func (s *serverTimes) reset() {
	s.mu.Lock()
	s.d = nil
	s.mu.Unlock()
}

func (s *serverTimes) sorted() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.d)
	slices.Sort(out)
	return out
}

// openStore opens the App's pool (store.Conns(AppReporters, AppHandlers)) on dbURL, traced by
// trace unless it is nil.
func openStore(ctx context.Context, dbURL string, trace *sqlTrace) (*store.Store, error) {
	conns := store.Conns(jobs.AppReporters, jobs.AppHandlers)
	if trace == nil {
		return store.Open(ctx, dbURL, conns)
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.ConnConfig.Tracer = int32(conns), trace
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &store.Store{Pool: pool}, nil
}

// fire posts ds to url with at most inFlight requests at once, each signed and bounded by the
// client's timeout, the whole by ctx.
func fire(ctx context.Context, hc *http.Client, url string, ds []delivery, inFlight int) intakeRow {
	codes := make([]string, len(ds))
	lat, wall := fanOut(len(ds), inFlight, func(i int) { codes[i] = deliver(ctx, hc, url, ds[i]) })
	r := intakeRow{wall: wall, codes: map[string]int{}}
	for i, code := range codes {
		r.codes[code]++
		if code != "timeout" && code != "error" {
			r.lat = append(r.lat, lat[i])
		}
	}
	slices.Sort(r.lat)
	return r
}

// deliver posts one delivery; it returns "202" for a push queued, else the status and result,
// "timeout" or "error".
func deliver(ctx context.Context, hc *http.Client, url string, d delivery) string {
	req, err := signed(ctx, url, d)
	if err != nil {
		return "error"
	}
	req.Header.Set("User-Agent", "GitHub-Hookshot/bench")
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			return "timeout"
		}
		return "error"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "error"
	}
	var out struct {
		Result string `json:"result"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode == http.StatusAccepted && out.Result == "queued" {
		return "202"
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, out.Result)
}

// ghCounter counts the requests reaching the fake GitHub: arrived, answered by status, in flight.
type ghCounter struct {
	mu                      sync.Mutex
	arrived, inFlight, peak int
	answered                map[int]int
}

type ghCount struct {
	arrived, inFlight, peak int
	answered                map[int]int
}

func (c *ghCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.arrived++
		c.inFlight++
		c.peak = max(c.peak, c.inFlight)
		c.mu.Unlock()
		sw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.inFlight--
			if c.answered == nil {
				c.answered = map[int]int{}
			}
			c.answered[sw.code]++
		}()
		next.ServeHTTP(sw, r)
	})
}

// snapshot returns the counts so far and starts a new peak.
func (c *ghCounter) snapshot() ghCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ghCount{arrived: c.arrived, inFlight: c.inFlight, peak: c.peak, answered: maps.Clone(c.answered)}
	c.peak = c.inFlight
	return s
}

// since is what happened between before and s.
func (s ghCount) since(before ghCount) ghCount {
	d := ghCount{arrived: s.arrived - before.arrived, inFlight: s.inFlight, peak: s.peak, answered: map[int]int{}}
	for code, k := range s.answered {
		if k -= before.answered[code]; k > 0 {
			d.answered[code] = k
		}
	}
	return d
}

type statusRecorder struct {
	http.ResponseWriter
	code int
	once bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.once {
		w.code, w.once = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// logCount is a slog.Handler that counts warnings and errors and prints nothing.
type logCount struct{ warn, err atomic.Int64 }

type logCounts struct{ warn, err int64 }

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		l.err.Add(1)
	case r.Level >= slog.LevelWarn:
		l.warn.Add(1)
	}
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) snapshot() logCounts                { return logCounts{l.warn.Load(), l.err.Load()} }

// jobs is the publish jobs' states, e.g. "12 completed · 10 running · 978 available · 0 retryable · 0 snoozed".
func (r intakeRow) jobs() string {
	var parts []string
	for _, s := range []string{"completed", "running", "available", "scheduled", "retryable", "discarded", "cancelled"} {
		if k := r.publish[s]; k > 0 || s == "retryable" {
			parts = append(parts, fmt.Sprintf("%d %s", k, s))
		}
	}
	return strings.Join(parts, " · ") + fmt.Sprintf(" (%d snoozed, %d failed attempts)", r.snoozed, r.failedAttempts)
}

func (g ghCount) String() string {
	if g.arrived == 0 && g.inFlight == 0 {
		return "none"
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(g.answered)) {
		parts = append(parts, fmt.Sprintf("%d × %d", g.answered[code], code))
	}
	answered := "none answered"
	if len(parts) > 0 {
		answered = "answered " + strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d (%s; %d in flight at the end, peak %d)", g.arrived, answered, g.inFlight, g.peak)
}

// printIntake prints two rows per condition, the path before group commit and group commit,
// over their rounds.
func printIntake(rows [][2][]intakeRow) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	r0 := rows[0][0][0]
	fmt.Printf("\n%d signed push deliveries per row (the push.new-branch fixture, %d assignments × %d new branches, one commit each), %d in flight, loopback.\n",
		r0.n, intakeRepos, r0.n/intakeRepos, intakeInFlight)
	fmt.Printf("The App in process as `app serve`: webhook.Handler, River with %d publishers on the github queue, store.Conns(%d, %d) = %d connections,\n",
		jobs.AppReporters, jobs.AppReporters, jobs.AppHandlers, store.Conns(jobs.AppReporters, jobs.AppHandlers))
	fmt.Printf("its installation token already minted; GitHub's condition set before River starts. A fresh database per row; %d rounds, the conditions\n", len(rows[0][0]))
	fmt.Printf("and the two paths alternating (%s, and %s); latencies over all rounds; jobs and GitHub requests as the last round's burst ended.\n\n",
		intakeSetup{perDelivery: true}, intakeSetup{})
	fmt.Println("| GitHub during the burst | intake | answers | p50 | p90 | p99 | max | p99 per round | p99 now / before | in the handler: p50 · p99 | wall per round | stored per round: submissions · runs · grade + publish jobs | lost | CPU per delivery: Postgres · App | publish jobs as the burst ended | GitHub requests during the burst |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, paths := range rows {
		before := mergeRounds(paths[0])
		for k, rs := range paths {
			m, last := mergeRounds(rs), rs[len(rs)-1]
			vs := "—"
			if k == 1 {
				vs = fmt.Sprintf("×%.2f", float64(pct(m.lat, 99))/float64(pct(before.lat, 99)))
			}
			var answers []string
			for _, code := range slices.Sorted(maps.Keys(m.codes)) {
				answers = append(answers, fmt.Sprintf("%d × %s", m.codes[code], code))
			}
			cpu := fmt.Sprintf("%.2f · %.2f ms", msf(m.cpu[0]), msf(m.cpu[1]))
			wall := fmt.Sprintf("%.1f–%.1f s", m.walls[0].Seconds(), m.walls[len(m.walls)-1].Seconds())
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s · %s | %s | %s | %d | %s | %s | %s |\n", last.cond.name, last.how,
				strings.Join(answers, ", "), ms(pct(m.lat, 50)), ms(pct(m.lat, 90)), ms(pct(m.lat, 99)), ms(m.lat[len(m.lat)-1]),
				each(m.p99s, ms), vs, ms(pct(m.server, 50)), ms(pct(m.server, 99)), wall, strings.Join(m.stored, " / "), m.lost, cpu, last.jobs(), last.gh)
		}
	}
	var conns []string
	for _, paths := range rows {
		for _, rs := range paths {
			for _, r := range rs {
				conns = append(conns, fmt.Sprintf("%d→%d", r.conns[0], r.conns[1]))
			}
		}
	}
	fmt.Printf("\nThe pool's open connections before → after each burst (after the warm-up deliveries): %s.\n", strings.Join(conns, ", "))
	fmt.Printf("Verified in every row of every round: each delivery answered 202 queued; %d submissions and %d runs, each run with exactly one grade and one publish job; 0 deliveries lost.\n", r0.n, r0.n)
	fmt.Printf("In the handler: from net/http's call to the handler's return (read, verify, decode, store, answer); the rest is the client, loopback and waiting for a CPU.\n")
	fmt.Printf("CPU: of the processes named postgres (any other database's work on that server counts too) and of this one (the App, the fake GitHub and the load generator), during the burst.\n")
	fmt.Printf("The App's own log during the last round (River and the publishers; counted, not printed):")
	for _, paths := range rows {
		for _, rs := range paths {
			last := rs[len(rs)-1]
			fmt.Printf(" %s, %s: %d warnings, %d errors;", last.cond.short, last.how, last.logs.warn, last.logs.err)
		}
	}
	fmt.Println()
}

// mergedRounds is one row's rounds taken together.
type mergedRounds struct {
	lat, server []time.Duration // every round's, sorted
	p99s        []time.Duration // each round's p99, in round order
	walls       []time.Duration // sorted
	codes       map[string]int
	stored      []string         // each distinct "submissions · runs · grade + publish jobs"
	lost        int              // over all rounds
	cpu         [2]time.Duration // per delivery, mean over the rounds: Postgres, this process
}

func mergeRounds(rs []intakeRow) mergedRounds {
	m := mergedRounds{codes: map[string]int{}}
	for _, r := range rs {
		m.lat = append(m.lat, r.lat...)
		m.server = append(m.server, r.server...)
		for k, v := range r.codes {
			m.codes[k] += v
		}
		m.p99s = append(m.p99s, pct(r.lat, 99))
		m.walls = append(m.walls, r.wall)
		if st := fmt.Sprintf("%d · %d · %d + %d", r.subs, r.runs, r.grades, r.publishes); !slices.Contains(m.stored, st) {
			m.stored = append(m.stored, st)
		}
		m.lost += r.lost
		m.cpu[0], m.cpu[1] = m.cpu[0]+r.cpu[0]/time.Duration(r.n), m.cpu[1]+r.cpu[1]/time.Duration(r.n)
	}
	m.cpu[0], m.cpu[1] = m.cpu[0]/time.Duration(len(rs)), m.cpu[1]/time.Duration(len(rs))
	slices.Sort(m.lat)
	slices.Sort(m.server)
	slices.Sort(m.walls)
	return m
}

// each is ds formatted by f, joined by " · ".
func each(ds []time.Duration, f func(time.Duration) string) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = f(d)
	}
	return strings.Join(out, " · ")
}

// loadavg is the machine's 1-minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
