// Package bench_test measures the App's webhook path: how fast a burst of GitHub deliveries is
// acknowledged, and how long a push takes to become a queued and then a completed check run.
// It is a test only so that it can use the repository's fakes (storetest, githubtest,
// webhooktest); it skips unless HOLDFAST_BENCH=1:
//
//	bash grading/app/jobs/bench/run.sh            # from anywhere; starts Postgres, prints all three tables
//	bash grading/app/jobs/bench/run.sh webhook    # this file's two tables only
//
// intake_test.go has the third (run.sh intake): a burst while GitHub is down.
//
// Reading the tables:
//
//   - Burst: 500 signed deliveries built from the real push.new-branch fixture (each its own
//     delivery id, branch and commit) are posted to an httptest server on loopback by one HTTP
//     client keeping at most 32 requests in flight. Latency is per request, from the client's
//     send to the end of the answer's body; wall is the whole burst; throughput is 500 / wall.
//     "bare net/http" is the floor any receiver pays (read the body, check the HMAC, answer
//     202); the Holdfast rows run webhook.Handler on a fresh database, so the difference is
//     the JSON decode, the assignment lookup and the transaction that claims the delivery and
//     writes the submission, the run and its two River jobs. Redeliveries post the same 500
//     deliveries again: each claims nothing and answers 200. Each server first gets 64
//     unrecorded deliveries (for Holdfast, to a repository that is no assignment) to open the
//     connections. The App uses pgxpool's default pool (max(4, CPUs) connections), as does
//     this benchmark; handler logs are at warn level.
//   - Grading: the App in process, wired by grading/app/apptest (real Postgres, River with one grader
//     and two reporters, the fake GitHub, Docker). The clock starts when the push is posted.
//     "queued" is when the fake first holds the commit's check run (the ReportQueued job);
//     "completed" when it is completed. The Grade split comes from the stored verdict's
//     timings; "outside Grade" is the rest: River picking the job up, the tarball download,
//     and the check-run reports. "cold" is this process's first grading: the image may still
//     be cached by Docker from an earlier run, which its build time shows (under a second
//     means cached). "warm" pushes another commit of the same content, so its image is cached.
package bench_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const (
	secret    = apptest.Secret // the App in process (newApp) checks deliveries with it
	inst      = apptest.Installation
	repoID    = 5001
	owner     = apptest.Owner
	name      = "pay-alice"
	n         = 500
	inFlight  = 32
	warmup    = 64
	reference = "../../../../scenarios/idempotentpayments/testdata/reference"
)

func TestWebhookBench(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH") != "1" {
		t.Skip("a benchmark, not a test: run `bash grading/app/jobs/bench/run.sh webhook` (or HOLDFAST_BENCH=1 go test -run TestWebhookBench -v ./grading/app/jobs/bench/ with HOLDFAST_TEST_DATABASE_URL set)")
	}
	start := time.Now()
	burstTable(t)
	gradingTable(t)
	fmt.Printf("\nbenchmark wall time: %.1f s\n", time.Since(start).Seconds())
}

// delivery is one signed webhook request.
type delivery struct {
	event, id string
	body      []byte
}

func push(t *testing.T, id string, repo int64, repoName, branch, sha string) delivery {
	p := wt.Load(t, "push.new-branch").Repo(inst, repo, owner, repoName).Push(branch, commit("before"), sha)
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return delivery{"push", id, body}
}

func commit(label string) string {
	s := fmt.Sprintf("%x", label)
	return (s + strings.Repeat("0", 40))[:40]
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight}, Timeout: time.Minute}

// signed is d as GitHub posts it to url: its event, delivery id and signature under secret.
func signed(ctx context.Context, url string, d delivery) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.id)
	req.Header.Set("X-Hub-Signature-256", webhook.Signature([]byte(secret), d.body))
	return req, nil
}

// post sends d and returns the answer's status and body.
func post(url string, d delivery) (int, []byte, error) {
	req, err := signed(context.Background(), url, d)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// result is one burst: latencies sorted, wall time, and how many answers had each status.
type result struct {
	lat   []time.Duration
	wall  time.Duration
	codes map[int]int
}

// burst posts ds to url with at most inFlight requests at once.
func burst(t *testing.T, url string, ds []delivery) result {
	t.Helper()
	codes, errs := make([]int, len(ds)), make([]error, len(ds))
	lat, wall := fanOut(len(ds), inFlight, func(i int) { codes[i], _, errs[i] = post(url, ds[i]) })
	r := result{lat: lat, wall: wall, codes: map[int]int{}}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %s: %v", ds[i].id, err)
		}
		r.codes[codes[i]]++
	}
	slices.Sort(r.lat)
	return r
}

// fanOut calls do(i) for every i below n, at most inFlight at once, and returns how long each
// call took (by i) and the wall time of them all.
func fanOut(n, inFlight int, do func(i int)) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	work := make(chan int, n)
	for i := range n {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	begin := time.Now()
	for range inFlight {
		wg.Go(func() {
			for i := range work {
				t0 := time.Now()
				do(i)
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	return lat, time.Since(begin)
}

// pct is the nearest-rank percentile p (0–100) of sorted latencies.
func pct(s []time.Duration, p int) time.Duration { return s[(p*len(s)+99)/100-1] }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (r result) row(name string) {
	var answers []string
	for _, code := range slices.Sorted(maps.Keys(r.codes)) {
		answers = append(answers, fmt.Sprintf("%d × %d", r.codes[code], code))
	}
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %.2f s | %.0f /s |\n", name, strings.Join(answers, ", "),
		ms(pct(r.lat, 50)), ms(pct(r.lat, 90)), ms(pct(r.lat, 99)), ms(r.lat[len(r.lat)-1]), r.wall.Seconds(), float64(len(r.lat))/r.wall.Seconds())
}

// bare is the baseline receiver: it checks the signature and answers 202, storing nothing.
func bare() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 25<<20+1))
		if err != nil || !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(webhook.Signature([]byte(secret), body))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"result":"queued"}`+"\n")
	})
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newAssignment gives the test a fresh database with the catalog and one assignment.
func newAssignment(t *testing.T) *store.Store {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	if err := st.SyncChallenges(ctx, catalog.MustNew(catalog.Builtin()).Challenges()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: inst, RepoID: repoID, Owner: owner, Name: name,
		Challenge: "idempotent-payments", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	return st
}

func count(t *testing.T, st *store.Store, sql string) int {
	t.Helper()
	var c int
	if err := st.Pool.QueryRow(context.Background(), sql).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func burstTable(t *testing.T) {
	st := newAssignment(t)
	rc, err := jobs.NewClient(jobs.Deps{Store: st, Log: quietLog()}, jobs.Options{}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.New([]byte(secret), st, rc, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	hook, base := httptest.NewServer(h), httptest.NewServer(bare())
	defer hook.Close()
	defer base.Close()
	defer client.CloseIdleConnections()

	var pushes, strangers []delivery
	for i := range n {
		pushes = append(pushes, push(t, fmt.Sprintf("bench-%03d", i), repoID, name, fmt.Sprintf("b%03d", i), fmt.Sprintf("%040x", i+1)))
	}
	for i := range warmup {
		strangers = append(strangers, push(t, fmt.Sprintf("warmup-%03d", i), repoID+1, "not-an-assignment", "main", fmt.Sprintf("%040x", i+1)))
	}

	burst(t, base.URL, strangers)
	t.Log("burst: bare net/http")
	bareR := burst(t, base.URL, pushes)
	burst(t, hook.URL, strangers)
	t.Log("burst: Holdfast, new deliveries")
	fresh := burst(t, hook.URL, pushes)
	counts := func() [4]int {
		return [4]int{count(t, st, "SELECT count(*) FROM runs"), count(t, st, "SELECT count(*) FROM river_job"),
			count(t, st, "SELECT count(*) FROM river_job WHERE kind='grade'"), count(t, st, "SELECT count(*) FROM deliveries")}
	}
	if got, want := counts(), [4]int{n, 2 * n, n, n}; got != want || fresh.codes[http.StatusAccepted] != n {
		t.Fatalf("after %d new deliveries: answers %v; runs, river jobs, grade jobs, deliveries %v, want %v", n, fresh.codes, got, want)
	}
	t.Log("burst: Holdfast, redeliveries")
	again := burst(t, hook.URL, pushes)
	if got, want := counts(), [4]int{n, 2 * n, n, n}; got != want || again.codes[http.StatusOK] != n {
		t.Fatalf("after %d redeliveries: answers %v; runs, river jobs, grade jobs, deliveries %v, want %v", n, again.codes, got, want)
	}

	fmt.Printf("\n%d push deliveries of %d bytes each, %d in flight, loopback, one run.\n\n", n, len(pushes[0].body), inFlight)
	fmt.Println("| receiver | answers | p50 | p90 | p99 | max | wall | throughput |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	bareR.row("bare `net/http`: HMAC check → 202, no database")
	fresh.row("Holdfast webhook: new pushes (1 tx: delivery + submission + run + 2 River jobs)")
	again.row("Holdfast webhook: the same deliveries again (claim fails → 200)")
	fmt.Printf("\nVerified: %d runs, %d River jobs (%d grade, %d report_queued), %d deliveries, before and after the redeliveries.\n",
		n, 2*n, n, n, n)
}

// app is the whole App in process (apptest), grading in Docker.
type app struct{ *apptest.App }

func newApp(t *testing.T) *app {
	t.Helper()
	a := apptest.New(t, apptest.Options{Engine: dockertest.Engine(t), Challenges: catalog.MustNew(catalog.Builtin()).Challenges(), Lookup: catalog.MustNew(catalog.Builtin()).Lookup, Log: quietLog()})
	a.Assign(t, name, repoID, "idempotent-payments", "alice")
	return &app{a}
}

// timing is one push followed to its completed check run.
type timing struct {
	queued, completed time.Duration
	conclusion        string
	split             grading.Timings
}

// follow pushes sha (the reference's content) and polls the fake every 2 ms.
func (a *app) follow(t *testing.T, sha string) timing {
	t.Helper()
	a.GitHub.SetTarball(owner, name, sha, reference)
	begin := time.Now()
	code, body, err := post(a.Hook, push(t, "grade-"+sha[:12], repoID, name, "main", sha))
	var out struct {
		Result string `json:"result"`
		RunID  int64  `json:"run_id"`
	}
	if err != nil || code != http.StatusAccepted || json.Unmarshal(body, &out) != nil || out.Result != "queued" {
		t.Fatalf("push %s: %d %s %v", sha[:7], code, body, err)
	}
	var tm timing
	for deadline := begin.Add(6 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		for _, cr := range a.GitHub.CheckRuns(owner, name) {
			if cr.HeadSHA != sha {
				continue
			}
			if tm.queued == 0 {
				tm.queued = time.Since(begin)
			}
			if cr.Status == "completed" {
				tm.completed, tm.conclusion = time.Since(begin), cr.Conclusion
				v, err := a.Store.RunVerdict(context.Background(), out.RunID)
				if err != nil {
					t.Fatal(err)
				}
				tm.split = v.Timings
				return tm
			}
		}
	}
	t.Fatalf("the check run of %s did not complete within 6 minutes: %+v", sha[:7], a.GitHub.CheckRuns(owner, name))
	return tm
}

func gradingTable(t *testing.T) {
	a := newApp(t)
	t.Log("grading: cold")
	cold := a.follow(t, commit("cold"))
	t.Log("grading: warm")
	warm := a.follow(t, commit("warm"))
	for _, tm := range []timing{cold, warm} {
		if tm.conclusion != "success" {
			t.Fatalf("the reference concluded %s; want success", tm.conclusion)
		}
	}

	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	split := func(tm timing) string {
		s := tm.split
		cached := "image built"
		if time.Duration(s.Build) < time.Second {
			cached = "image cached"
		}
		return fmt.Sprintf("%s: build %s · provision %s · scenarios %s", cached, secs(time.Duration(s.Build)),
			secs(time.Duration(s.Provision)), secs(time.Duration(s.Scenarios)))
	}
	fmt.Printf("\nThe reference solution of idempotent-payments pushed once per column; 1 grader, 2 reporters; one run.\n\n")
	fmt.Println("| from posting the push to | cold (first grading) | warm (same content, new commit) | notes |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| check run `queued` on the fake | %s | %s | the ReportQueued job on the github queue |\n", ms(cold.queued), ms(warm.queued))
	fmt.Printf("| check run `completed` (success) | %s | %s | |\n", secs(cold.completed), secs(warm.completed))
	fmt.Printf("| … of which `Grader.Grade` | %s | %s | cold %s; warm %s |\n", secs(time.Duration(cold.split.Total)),
		secs(time.Duration(warm.split.Total)), split(cold), split(warm))
	fmt.Printf("| … of which outside `Grade` | %s | %s | job pickup, tarball download, check-run reports |\n",
		secs(cold.completed-time.Duration(cold.split.Total)), secs(warm.completed-time.Duration(warm.split.Total)))
}
