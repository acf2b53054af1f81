package chaos

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
)

// The learner's repository and the App's installation on the fake GitHub.
const (
	inst    = 42
	repoID  = 4201
	owner   = "classroom"
	name    = "payments-ada"
	secret  = "chaos-webhook-secret"
	zeroSHA = "0000000000000000000000000000000000000000"
)

// submission is a directory the learner pushes and the verdict it must get.
type submission struct {
	dir        string
	conclusion string // of the check run
	title      string // of the check run, and the sticky comment's headline
}

// The reference passes; broken-lenient-currency fails one scenario (missing_key) that needs no
// timing, so its score is the same every time.
var (
	passing = submission{dir: repoRoot + "/scenarios/idempotentpayments/testdata/reference", conclusion: "success", title: "Passed · 100/100"}
	failing = submission{dir: repoRoot + "/scenarios/idempotentpayments/testdata/broken-lenient-currency", conclusion: "failure",
		title: fmt.Sprintf("Failed · %d/100", scoreWithout("missing_key"))}
)

// scoreWithout is the payments challenge's score when exactly the scenarios named fail.
func scoreWithout(failed ...string) int {
	var results []grading.ScenarioResult
	for _, s := range idempotentpayments.Scenarios() {
		o := grading.OutcomePassed
		for _, f := range failed {
			if s.Slug == f {
				o = grading.OutcomeFailed
			}
		}
		results = append(results, grading.ScenarioResult{Weight: s.Weight, Outcome: o})
	}
	return grading.Score(results)
}

// newGitHub is the fake GitHub with the App installed on the learner's repository.
func newGitHub(t *testing.T) *githubtest.Server {
	t.Helper()
	fake := githubtest.New(t)
	fake.AddInstallation(inst, owner)
	fake.AddRepo(inst, owner, name, &githubtest.RepoOpts{ID: repoID})
	return fake
}

// seed migrates the App's database (as `app migrate` does) and assigns the repository.
func seed(t *testing.T, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.SyncChallenges(ctx, catalog.MustNew(catalog.Builtin()).Challenges()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: inst, RepoID: repoID, Owner: owner, Name: name,
		Challenge: "idempotent-payments", User: "ada"}); err != nil {
		t.Fatal(err)
	}
}

// commit is a made-up commit id, different for every label from its first characters on (the
// sticky comment shows seven).
func commit(label string) string { return fmt.Sprintf("%x", sha1.Sum([]byte(label))) }

// pushPayload is GitHub's real push payload, patched to a push of sha to branch after before.
func pushPayload(t *testing.T, branch, before, sha string) []byte {
	t.Helper()
	return mustJSON(t, wt.Load(t, "push.new-branch").Repo(inst, repoID, owner, name).Push(branch, before, sha))
}

// pullPayload is GitHub's real pull_request payload (action opened or synchronize) for pull
// request number from branch at sha into main.
func pullPayload(t *testing.T, action string, number int, branch, sha string) []byte {
	t.Helper()
	return mustJSON(t, wt.Load(t, "pull_request."+action).Repo(inst, repoID, owner, name).Set("number", number).
		Set("pull_request.number", number).Set("pull_request.head.ref", branch).Set("pull_request.head.sha", sha).
		Set("pull_request.base.ref", "main"))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRunsOf is every check run on sha.
func checkRunsOf(fake *githubtest.Server, sha string) []githubtest.CheckRun {
	var out []githubtest.CheckRun
	for _, cr := range fake.CheckRuns(owner, name) {
		if cr.HeadSHA == sha {
			out = append(out, cr)
		}
	}
	return out
}

// appEnv is what both commands need of the environment: the App's identity on the fake GitHub
// and the database.
func appEnv(fake *githubtest.Server, dbURL string) []string {
	return []string{"GITHUB_APP_ID=" + fmt.Sprint(fake.AppID), "GITHUB_PRIVATE_KEY=" + string(fake.PrivateKeyPEM),
		"GITHUB_API_URL=" + fake.URL, "DATABASE_URL=" + dbURL}
}

// runnerEnv is the environment of a `runner work` of this repository's App; hardCap "" is the
// production default. No sandbox pool: the test's sweeps and "no sandbox left" count gradings'
// sandboxes, and a killed runner's pool is swept only after its idle time (grading/docker's
// TestPoolOfAKilledRunnerIsSwept tests that).
func runnerEnv(fake *githubtest.Server, dbURL, ns, hardCap string) []string {
	return append(appEnv(fake, dbURL), "HOLDFAST_HARD_CAP="+hardCap, "RUNNER_CONCURRENCY=1",
		"HOLDFAST_NAMESPACE="+ns, "RUNNER_HEALTH_LISTEN=127.0.0.1:0", "HOLDFAST_POOL_SIZE=0")
}

// openStore opens the App's store on url for the test's own queries.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, url, store.Conns(0, 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
