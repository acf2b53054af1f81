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
//   - Grading (push_test.go, also alone: run.sh push): K pushes of the payments reference, each a
//     new commit, one at a time, through the App in process, wired by grading/app/apptest (real
//     Postgres, River with one grader and two publishers, the fake GitHub, Docker behind the
//     runner's warm sandbox pool). The clock starts when the push is posted and stops when the
//     fake holds its check run completed; the parts between come from what the system stores
//     (the answer, River's grade and publish jobs, the run's started_at and completed_at, the
//     verdict's stage timings) and from when Grade began (its build). They add up to the whole.
//   - Throughput (throughput_test.go, run.sh throughput): M pushes of a mix of challenges'
//     references and broken variants at once, at each RUNNER_CONCURRENCY level.
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

	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
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
	pushTable(t, *pushesFlag)
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
