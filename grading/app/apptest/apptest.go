package apptest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
)

// The App's installation on the fake GitHub, and the webhook secret deliveries are signed with.
const (
	Secret       = "e2e-secret"
	Installation = 7
	Owner        = "holdfast-org"
)

// DefaultHardCap is the grader's hard cap unless Options say otherwise: twice production's,
// since test gradings share a loaded machine.
const DefaultHardCap = 240 * time.Second

// Options configure New.
type Options struct {
	// Engine grades the jobs the runner takes: a *gradingtest.Engine, or dockertest.Engine's.
	// Required unless Jobs works no grading queue.
	Engine grading.Engine
	// HardCap is the grader's hard cap. Defaults to DefaultHardCap.
	HardCap time.Duration
	// Challenges are synced into the store (what assignments may name), and Lookup finds a
	// challenge's scenarios for the grader (jobs.Deps.Challenge). Both required.
	Challenges []grading.Challenge
	Lookup     func(slug string) (grading.Challenge, error)
	// Jobs are the queues the webhook handler's River client works. Defaults to a runner and
	// the App together: 1 grader, 2 reporters. &jobs.Options{} only inserts.
	Jobs *jobs.Options
	// Log is the App's and the runner's log. Defaults to warnings and errors on stderr.
	Log *slog.Logger
}

// App is the App and a runner, wired in the test process.
type App struct {
	Store       *store.Store
	DatabaseURL string
	// GitHub is the fake GitHub, with the App installed on Owner's account.
	GitHub *githubtest.Server
	// Deps are the workers' dependencies; Start starts more clients with them.
	Deps jobs.Deps
	// River is the client the webhook handler inserts with; it works Options.Jobs' queues.
	River *river.Client[pgx.Tx]
	// Hook is the webhook handler's URL.
	Hook string

	deliveries atomic.Int64
}

// New starts the App for the test; everything stops when the test ends.
func New(t testing.TB, opts Options) *App {
	t.Helper()
	if opts.Challenges == nil || opts.Lookup == nil {
		t.Fatal("apptest.New: Options.Challenges and Options.Lookup are required")
	}
	queues := jobs.Options{Graders: 1, Reporters: 2}
	if opts.Jobs != nil {
		queues = *opts.Jobs
	}
	if queues.Graders > 0 && opts.Engine == nil {
		t.Fatal("apptest.New: Options.Engine is required when the client works the grading queue")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	hardCap := opts.HardCap
	if hardCap == 0 {
		hardCap = DefaultHardCap
	}
	ctx := context.Background()
	st, dbURL := storetest.New(t)
	fake := githubtest.New(t)
	fake.AddInstallation(Installation, Owner)
	if err := st.SyncChallenges(ctx, opts.Challenges); err != nil {
		t.Fatalf("sync challenges: %v", err)
	}
	gh, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxWait: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Store: st, DatabaseURL: dbURL, GitHub: fake,
		Deps: jobs.Deps{Store: st, GitHub: gh, Challenge: opts.Lookup, PublicURL: "http://holdfast.test", Log: log}}
	if opts.Engine != nil {
		a.Deps.Grader = &grading.Grader{Engine: opts.Engine, HardCap: hardCap, Log: log}
	}
	a.River = a.Start(t, queues)
	h, err := webhook.New([]byte(Secret), st, a.River, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a.Hook = srv.URL
	return a
}

// Start starts another River client with the App's dependencies, working opts' queues: a second
// runner, or the App's own client started late. It stops when the test ends. A client of no
// queues only inserts: River refuses to start one, so it is returned as made.
func (a *App) Start(t testing.TB, opts jobs.Options) *river.Client[pgx.Tx] {
	t.Helper()
	rc, err := jobs.NewClient(a.Deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Graders == 0 && opts.Reporters == 0 {
		return rc
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rc.StopAndCancel(ctx)
	})
	return rc
}

// Assign adds the repository Owner/name (id repoID) to the App's installation and assigns
// challenge to user in it.
func (a *App) Assign(t testing.TB, name string, repoID int64, challenge, user string) store.Assignment {
	t.Helper()
	a.GitHub.AddRepo(Installation, Owner, name, &githubtest.RepoOpts{ID: repoID})
	as, err := a.Store.CreateAssignment(context.Background(), store.Assignment{InstallationID: Installation, RepoID: repoID,
		Owner: Owner, Name: name, Challenge: challenge, User: user})
	if err != nil {
		t.Fatalf("assign %s in %s: %v", challenge, name, err)
	}
	return as
}

// Deliver signs and posts a webhook delivery of event with a fresh delivery id, fails the test
// on an answer other than 2xx, and returns the answer's JSON.
func (a *App) Deliver(t testing.TB, event string, p wt.Payload) map[string]any {
	t.Helper()
	id := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), a.deliveries.Add(1))
	resp, out := wt.Deliver(t, a.Hook, Secret, event, id, p)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s delivery: %d %v", event, resp.StatusCode, out)
	}
	return out
}

// Push serves dir as the content of sha in the repository and delivers GitHub's real push
// payload of sha to branch (as a new branch, after before); it fails the test unless the push
// is queued.
func (a *App) Push(t testing.TB, as store.Assignment, branch, before, sha, dir string) {
	t.Helper()
	a.GitHub.SetTarball(as.Owner, as.Name, sha, dir)
	out := a.Deliver(t, "push", wt.Load(t, "push.new-branch").Repo(as.InstallationID, as.RepoID, as.Owner, as.Name).Push(branch, before, sha))
	if out["result"] != "queued" {
		t.Fatalf("push of %s: %v", sha, out)
	}
}

// Completed waits, up to 6 minutes, until n check runs on sha in Owner/repo have completed and
// returns them, oldest first.
func (a *App) Completed(t testing.TB, repo, sha string, n int) []githubtest.CheckRun {
	t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		var done []githubtest.CheckRun
		for _, cr := range a.GitHub.CheckRuns(Owner, repo) {
			if cr.HeadSHA == sha && cr.Status == "completed" {
				done = append(done, cr)
			}
		}
		if len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d check runs on %s completed after 6 minutes: %+v", len(done), n, sha[:7], a.GitHub.CheckRuns(Owner, repo))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Comments waits, up to a minute, until the comments on pull request pr of Owner/repo satisfy
// ok, and returns them.
func (a *App) Comments(t testing.TB, repo string, pr int, ok func([]githubtest.Comment) bool) []githubtest.Comment {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cs := a.GitHub.Comments(Owner, repo, pr)
		if ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("comments on #%d: %+v", pr, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Calls counts the successful requests to GitHub of an operation ("issues/create-comment").
func (a *App) Calls(op string) int {
	n := 0
	for _, c := range a.GitHub.Calls() {
		if c.OperationID == op && c.Status < 300 {
			n++
		}
	}
	return n
}

// Downloads counts the tarball links asked for sha.
func (a *App) Downloads(sha string) int {
	n := 0
	for _, c := range a.GitHub.Calls() {
		if c.OperationID == "repos/download-tarball-archive" && c.Status < 400 && strings.Contains(c.Path, sha) {
			n++
		}
	}
	return n
}

// FastRetries makes failed jobs of kind due at once until the test ends, as if their backoff
// had passed: River's scheduler then hands them to a worker within seconds.
func (a *App) FastRetries(t testing.TB, kind string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			_, _ = a.Store.Pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE kind = $1 AND state = 'retryable' AND scheduled_at > now()`, kind)
		}
	}()
}

// Commit is a made-up 40-digit commit id for label (its hex, padded), the same for the same
// label.
func Commit(label string) string {
	s := fmt.Sprintf("%x", label)
	return (s + strings.Repeat("0", 40))[:40]
}
