package webhook_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
)

// refactorSetup is setup with the assignment's challenge in the refactor format.
func refactorSetup(t *testing.T) env {
	t.Helper()
	e := setup(t)
	if err := e.st.SyncChallenges(context.Background(), []grading.Challenge{{Slug: "idempotent-payments", Title: "x", Formats: []string{"refactor"}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e env) comparisons(t *testing.T) string {
	t.Helper()
	return strings.Join([]string{
		strconv.Itoa(e.count(t, "SELECT count(*) FROM comparisons")) + " comparisons",
		strconv.Itoa(e.count(t, "SELECT count(*) FROM river_job WHERE kind = 'compare'")) + " compare jobs",
		strconv.Itoa(e.count(t, "SELECT count(*) FROM river_job WHERE kind = 'publish' AND args ? 'comparison_id'")) + " comparison publications",
		strconv.Itoa(e.count(t, "SELECT count(*) FROM runs")) + " runs",
	}, ", ")
}

const (
	baseSHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" // the fixtures' own base and head
	headSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
)

// TestRefactorPullRequestQueuesOneComparison: the real opened and synchronize payloads queue a
// comparison of their base and head, once per delivery; a push grades nothing; a closed pull
// request only updates the link.
func TestRefactorPullRequestQueuesOneComparison(t *testing.T) {
	e := refactorSetup(t)
	opened := wt.Load(t, "pull_request.opened")
	resp, out := wt.Deliver(t, e.url, secret, "pull_request", "pr-1", opened)
	if resp.StatusCode != http.StatusAccepted || out["result"] != "queued" {
		t.Fatalf("opened: %d %v", resp.StatusCode, out)
	}
	var base, head, ref string
	var pr int
	if err := e.st.Pool.QueryRow(context.Background(), `SELECT base_sha, head_sha, head_ref, pr_number FROM comparisons`).Scan(&base, &head, &ref, &pr); err != nil {
		t.Fatal(err)
	}
	if base != baseSHA || head != headSHA || ref != "changes" || pr != 2 {
		t.Fatalf("comparison of %s..%s (%s, #%d); want the fixture's base and head of #2", base, head, ref, pr)
	}
	if got := e.comparisons(t); got != "1 comparisons, 1 compare jobs, 1 comparison publications, 0 runs" {
		t.Fatalf("after opened: %s", got)
	}
	if resp, out := wt.Deliver(t, e.url, secret, "pull_request", "pr-1", opened); resp.StatusCode != http.StatusOK || !strings.Contains(out["result"].(string), "seen before") {
		t.Fatalf("redelivery: %d %v", resp.StatusCode, out)
	}
	if resp, out := wt.Deliver(t, e.url, secret, "pull_request", "pr-2", wt.Load(t, "pull_request.synchronize")); resp.StatusCode != http.StatusAccepted ||
		len(out["superseded"].([]any)) != 1 {
		t.Fatalf("synchronize: %d %v; want queued, superseding the first", resp.StatusCode, out)
	}
	if resp, out := wt.Deliver(t, e.url, secret, "push", "push-1", push(t)); resp.StatusCode != http.StatusAccepted || !strings.Contains(out["result"].(string), "is a refactor") {
		t.Fatalf("push: %d %v", resp.StatusCode, out)
	}
	if resp, _ := wt.Deliver(t, e.url, secret, "pull_request", "pr-3", wt.Load(t, "pull_request.closed")); resp.StatusCode != http.StatusOK {
		t.Fatalf("closed: %d", resp.StatusCode)
	}
	// The synchronize queued the new comparison's base grading and publication, and a
	// publication of the one it superseded (its check run completes as skipped now).
	if got := e.comparisons(t); got != "2 comparisons, 2 compare jobs, 3 comparison publications, 0 runs" {
		t.Fatalf("at the end: %s", got)
	}
	if n := e.count(t, "SELECT count(*) FROM river_job j JOIN comparisons c ON j.args->>'comparison_id' = c.id::text WHERE j.kind = 'publish' AND c.status = 'superseded'"); n != 2 {
		t.Fatalf("%d publications of the superseded comparison; want 2 (when queued, when superseded)", n)
	}
}

// TestRefactorRerunComparesTheSameCommitsAgain: a re-requested check run on a compared head
// queues a new comparison of the same base and head; on a commit no pull request compared, it
// does nothing.
func TestRefactorRerunComparesTheSameCommitsAgain(t *testing.T) {
	e := refactorSetup(t)
	rr := func(sha string) wt.Payload {
		return wt.Load(t, "check_run.rerequested").Repo(1, 186853002, "Codertocat", "Hello-World").Set("check_run.head_sha", sha).Set("check_run.check_suite.head_branch", "changes")
	}
	if resp, out := wt.Deliver(t, e.url, secret, "check_run", "rr-0", rr(headSHA)); resp.StatusCode != http.StatusAccepted || !strings.Contains(out["result"].(string), "nothing to re-run") {
		t.Fatalf("rerun before any comparison: %d %v", resp.StatusCode, out)
	}
	wt.Deliver(t, e.url, secret, "pull_request", "pr-1", wt.Load(t, "pull_request.opened"))
	if resp, out := wt.Deliver(t, e.url, secret, "check_run", "rr-1", rr(headSHA)); resp.StatusCode != http.StatusAccepted || out["result"] != "queued" {
		t.Fatalf("rerun: %d %v", resp.StatusCode, out)
	}
	if n := e.count(t, "SELECT count(*) FROM comparisons WHERE base_sha='"+baseSHA+"' AND head_sha='"+headSHA+"' AND pr_number=2"); n != 2 {
		t.Fatalf("%d comparisons of the pull request's commits; want 2", n)
	}
}
