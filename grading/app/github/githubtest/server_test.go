package githubtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
)

func TestEveryOperationOfTheSubsetIsServed(t *testing.T) {
	t.Parallel()
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tmpl := range sp.doc.Paths.InMatchingOrder() {
		for _, op := range sp.doc.Paths.Value(tmpl).Operations() {
			ids = append(ids, op.OperationID)
			if handlers[op.OperationID] == nil {
				t.Errorf("%s is in the subset but has no handler", op.OperationID)
			}
		}
	}
	if len(ids) != 27 || len(handlers) != 27 {
		t.Errorf("the subset has %d operations and the fake %d handlers, want 27 each", len(ids), len(handlers))
	}
}

// TestAllOperationsAnswerInGitHubsShape calls every operation once with go-github. The fake
// validates each of its own answers against the documented response schema and reports a
// mismatch, so passing means every answer here is a valid instance.
func TestAllOperationsAnswerInGitHubsShape(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddRepo(instID, org, "template", &RepoOpts{IsTemplate: true})
	s.SetFiles(org, "template", "main", map[string]string{"README.md": "# Stage 1\n"})
	s.SetPull(org, "learner", 1, "feature", "abc1234", "main")
	c := appClient(t, s, instID)
	cx := ctx(t)
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	status, body := raw(t, s, "Bearer "+signJWT(t, s.AppID, s.PrivateKeyPEM, time.Minute), "GET", "/app/installations/7", "")
	if status != http.StatusOK {
		t.Errorf("apps/get-installation answered %d: %s", status, body)
	}
	_, _, err := tokenClient(t, s, instID).Repositories.Get(cx, org, "learner")
	check("repos/get", err)
	_, _, err = c.Repositories.Edit(cx, org, "learner", &github.Repository{Description: github.String("Stage 1")})
	check("repos/update", err)
	_, _, err = c.Repositories.Create(cx, org, &github.Repository{Name: github.String("fresh"), Private: github.Bool(true), AutoInit: github.Bool(true)})
	check("repos/create-in-org", err)
	gen, _, err := c.Repositories.CreateFromTemplate(cx, org, "template", &github.TemplateRepoRequest{Name: github.String("alice"), Owner: github.String(org), Private: github.Bool(true)})
	check("repos/create-using-template", err)
	if gen.GetTemplateRepository().GetFullName() != "classroom/template" {
		t.Errorf("template_repository = %q", gen.GetTemplateRepository().GetFullName())
	}
	inv, resp, err := c.Repositories.AddCollaborator(cx, org, "alice", "alice-gh", &github.RepositoryAddCollaboratorOptions{Permission: "push"})
	check("repos/add-collaborator", err)
	if resp.StatusCode != http.StatusCreated || inv.GetInvitee().GetLogin() != "alice-gh" || inv.GetPermissions() != "write" {
		t.Errorf("inviting: %d, invitee %q with %q", resp.StatusCode, inv.GetInvitee().GetLogin(), inv.GetPermissions())
	}
	_, resp, err = c.Repositories.AddCollaborator(cx, org, "alice", "alice-gh", &github.RepositoryAddCollaboratorOptions{Permission: "maintain"})
	check("repos/add-collaborator again", err)
	if resp.StatusCode != http.StatusNoContent || s.Collaborators(org, "alice")["alice-gh"] != "maintain" {
		t.Errorf("changing a permission: %d, collaborators %v", resp.StatusCode, s.Collaborators(org, "alice"))
	}
	_, err = c.Repositories.RemoveCollaborator(cx, org, "alice", "alice-gh")
	check("repos/remove-collaborator", err)
	cr, _, err := c.Checks.CreateCheckRun(cx, org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: "abc1234"})
	check("checks/create", err)
	_, _, err = c.Checks.UpdateCheckRun(cx, org, "learner", cr.GetID(), github.UpdateCheckRunOptions{Name: "Holdfast", Conclusion: github.String("success")})
	check("checks/update", err)
	_, _, err = c.PullRequests.ListPullRequestsWithCommit(cx, org, "learner", "abc1234", nil)
	check("repos/list-pull-requests-associated-with-commit", err)
	_, _, err = c.PullRequests.List(cx, org, "learner", &github.PullRequestListOptions{State: "all", Base: "main"})
	check("pulls/list", err)
	cm, _, err := c.Issues.CreateComment(cx, org, "learner", 1, &github.IssueComment{Body: github.String("report")})
	check("issues/create-comment", err)
	_, _, err = c.Issues.EditComment(cx, org, "learner", cm.GetID(), &github.IssueComment{Body: github.String("report 2")})
	check("issues/update-comment", err)
	_, _, err = c.Issues.ListComments(cx, org, "learner", 1, &github.IssueListCommentsOptions{Since: &[]time.Time{time.Now().Add(-time.Hour)}[0]})
	check("issues/list-comments", err)
	_, _, err = c.Repositories.GetArchiveLink(cx, org, "alice", github.Tarball, &github.RepositoryContentGetOptions{Ref: "main"}, 0)
	check("repos/download-tarball-archive", err)
	blob, _, err := c.Git.CreateBlob(cx, org, "alice", &github.Blob{Content: github.String("x"), Encoding: github.String("utf-8")})
	check("git/create-blob", err)
	tree, _, err := c.Git.CreateTree(cx, org, "alice", "", []*github.TreeEntry{{Path: github.String("x"), Mode: github.String("100644"), Type: github.String("blob"), SHA: blob.SHA}})
	check("git/create-tree", err)
	commit, _, err := c.Git.CreateCommit(cx, org, "alice", &github.Commit{Message: github.String("m"), Tree: tree,
		Author: &github.CommitAuthor{Name: github.String("Holdfast"), Email: github.String("holdfast@example.com"), Date: &github.Timestamp{Time: time.Now()}}}, nil)
	check("git/create-commit", err)
	_, _, err = c.Git.CreateRef(cx, org, "alice", &github.Reference{Ref: github.String("refs/heads/solution"), Object: &github.GitObject{SHA: commit.SHA}})
	check("git/create-ref", err)
	_, _, err = c.Git.UpdateRef(cx, org, "alice", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: commit.SHA}}, true)
	check("git/update-ref", err)
	runs, _, err := c.Checks.ListCheckRunsForRef(cx, org, "learner", "abc1234", &github.ListCheckRunsOptions{Filter: github.String("all")})
	check("checks/list-for-ref", err)
	if runs.GetTotal() != 1 || len(runs.CheckRuns) != 1 || runs.CheckRuns[0].GetID() != cr.GetID() {
		t.Errorf("check runs of abc1234 = %d: %v", runs.GetTotal(), runs.CheckRuns)
	}

	apps := jwtClient(t, s)
	_, _, err = apps.Apps.Get(cx, "")
	check("apps/get-authenticated", err)
	_, _, err = apps.Apps.FindRepositoryInstallation(cx, org, "learner")
	check("apps/get-repo-installation", err)
	hook := newHookReceiver(t, "s3cret")
	s.SetWebhook(hook.srv.URL, []byte("s3cret"))
	s.Deliver("check_run", []byte(`{"action":"rerequested","installation":{"id":7},"repository":{"id":1}}`))
	list, _, err := apps.Apps.ListHookDeliveries(cx, &github.ListCursorOptions{PerPage: 10})
	check("apps/list-webhook-deliveries", err)
	if len(list) != 1 {
		t.Fatalf("%d deliveries listed, want 1", len(list))
	}
	_, _, err = apps.Apps.GetHookDelivery(cx, list[0].GetID())
	check("apps/get-webhook-delivery", err)
	_, _, err = apps.Apps.RedeliverHookDelivery(cx, list[0].GetID())
	var accepted *github.AcceptedError
	if !errors.As(err, &accepted) {
		t.Errorf("apps/redeliver-webhook-delivery: %v, want 202 (go-github's AcceptedError)", err)
	}
	s.WaitDeliveries()

	seen := map[string]bool{}
	for _, call := range s.Calls() {
		seen[call.OperationID] = true
	}
	for id := range handlers {
		if !seen[id] {
			t.Errorf("%s was not exercised", id)
		}
	}
}

// TestResponseValidationIsNotVacuous shows that the check the fake runs on its own answers
// does reject a body outside the schema, and accepts one the filler completed.
func TestResponseValidationIsNotVacuous(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	for _, tc := range []struct {
		op     string
		status int
		body   map[string]any
	}{
		{"checks/create", 201, map[string]any{"id": 1, "name": "Holdfast", "head_sha": "abc", "status": "queued"}},
		{"checks/update", 200, map[string]any{"id": 1, "name": "Holdfast", "head_sha": "abc", "status": "completed", "conclusion": "success"}},
		{"issues/create-comment", 201, map[string]any{"id": 1, "body": "hi", "user": map[string]any{"login": "x", "id": 1}}},
		{"apps/create-installation-access-token", 201, map[string]any{"token": "ghs_x", "expires_at": "2030-01-01T00:00:00Z"}},
		{"apps/get-authenticated", 200, map[string]any{"id": 1, "name": "Holdfast", "installations_count": 1}},
		{"apps/get-webhook-delivery", 200, map[string]any{"id": 1, "guid": "g", "status_code": 0, "action": nil}},
		{"checks/list-for-ref", 200, map[string]any{"total_count": 1, "check_runs": []any{map[string]any{"id": 1, "name": "Holdfast"}}}},
	} {
		route := s.operation(tc.op)
		probe := httptest.NewRequest(route.Method, "/", nil)
		header := http.Header{"Content-Type": {"application/json"}}
		if tc.op == "issues/create-comment" {
			header.Set("Location", "x")
		}
		bad, _ := json.Marshal(map[string]any{"id": "not a number"})
		if err := validateResponse(probe.Context(), probe, route, nil, tc.status, header, bad); err == nil {
			t.Errorf("%s: a body without its required fields passed validation", tc.op)
		}
		v, _ := jsonValue(tc.body)
		f := filler{base: s.URL, now: time.Now().UTC().Format(time.RFC3339)}
		good, _ := json.Marshal(f.complete(responseSchema(route.Operation, tc.status), v, 0))
		if err := validateResponse(probe.Context(), probe, route, nil, tc.status, header, good); err != nil {
			t.Errorf("%s: the completed body fails validation: %v", tc.op, err)
		}
	}
}

func TestRequestsOutsideTheSubsetFailTheTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     []string
	}{
		{"an unknown route", "GET", "/repos/classroom/learner/issues", "", 404, []string{"matches no operation"}},
		{"a wrong method", "DELETE", "/repos/classroom/learner/check-runs/1", "", 404, []string{"DELETE", "matches no operation"}},
		{"a misspelt query parameter", "GET", "/repos/classroom/learner/issues/1/comments?perpage=100", "", 422, []string{"issues/list-comments", "perpage"}},
		{"a malformed query parameter", "GET", "/repos/classroom/learner/issues/1/comments?page=two", "", 422, []string{"issues/list-comments", "page"}},
		{"a missing required property", "POST", "/repos/classroom/learner/issues/1/comments", `{}`, 422, []string{"issues/create-comment", "body"}},
		{"a body where none is taken", "GET", "/repos/classroom/learner", `{"x":1}`, 422, []string{"repos/get"}},
		{"a bad enum in a repository update", "PATCH", "/repos/classroom/learner", `{"visibility":"secret"}`, 422, []string{"repos/update", "visibility"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &spyTB{TB: t}
			s := newFake(spy)
			status, body := raw(t, s, "token "+s.Token(instID), tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Errorf("answered %d, want %d: %s", status, tc.status, body)
			}
			spy.expectFailure(t, tc.want...)
		})
	}
}

func TestFailNextInjectsGitHubsFailures(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	c := appClient(t, s, instID)
	create := func() error {
		_, _, err := c.Checks.CreateCheckRun(ctx(t), org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: "abc"})
		return err
	}

	s.FailNext("checks/create", 2, http.StatusBadGateway, nil)
	for i := range 2 {
		if err := create(); statusOf(err) != http.StatusBadGateway {
			t.Errorf("attempt %d: %v, want 502", i+1, err)
		}
	}
	if err := create(); err != nil {
		t.Errorf("after the injected failures: %v", err)
	}
	if n := len(s.CheckRuns(org, "learner")); n != 1 {
		t.Errorf("%d check runs exist, want 1: failed attempts must have no effect", n)
	}

	reset := time.Now().Add(time.Minute).Unix()
	s.FailNext("issues/create-comment", 1, http.StatusForbidden, http.Header{
		"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}, "X-Ratelimit-Limit": {"5000"},
	})
	_, _, err := c.Issues.CreateComment(ctx(t), org, "learner", 1, &github.IssueComment{Body: github.String("x")})
	var rate *github.RateLimitError
	if !errors.As(err, &rate) || rate.Rate.Reset.Unix() != reset {
		t.Errorf("primary rate limit: %v, want a RateLimitError resetting at %d", err, reset)
	}

	s.FailNext("issues/list-comments", 1, http.StatusForbidden, http.Header{"Retry-After": {"3"}})
	_, _, err = tokenClient(t, s, instID).Issues.ListComments(ctx(t), org, "learner", 1, nil)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != 3*time.Second {
		t.Errorf("secondary rate limit: %v, want an AbuseRateLimitError with Retry-After 3s", err)
	}
	if n := len(s.Comments(org, "learner", 1)); n != 0 {
		t.Errorf("%d comments exist after a rate-limited create, want 0", n)
	}

	var statuses []int
	for _, call := range s.Calls() {
		if call.OperationID == "checks/create" {
			statuses = append(statuses, call.Status)
		}
	}
	if want := []int{502, 502, 201}; !slices.Equal(statuses, want) {
		t.Errorf("checks/create calls answered %v, want %v", statuses, want)
	}
}

func TestGeneratedRepositoryFillsInAfterALag(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddRepo(instID, org, "template", &RepoOpts{IsTemplate: true, DefaultBranch: "trunk"})
	s.SetFiles(org, "template", "trunk", map[string]string{"README.md": "# Stage 1\n", "go.mod": "module x\n"})
	s.SetGenerateLag(2)
	c := appClient(t, s, instID)
	if _, _, err := c.Repositories.CreateFromTemplate(ctx(t), org, "template", &github.TemplateRepoRequest{Name: github.String("bob")}); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for range 3 {
		r, _, err := c.Repositories.Get(ctx(t), org, "bob")
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, r.GetSize())
	}
	if !slices.Equal(sizes, []int{0, 0, 1}) {
		t.Errorf("sizes seen while polling = %v, want [0 0 1]", sizes)
	}
	if got := s.Files(org, "bob", "trunk"); got["README.md"] != "# Stage 1\n" || len(got) != 2 {
		t.Errorf("generated files = %v", got)
	}
}

func TestCallsRecordPathsWithoutThePrefix(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	if _, _, err := appClient(t, s, instID).Repositories.Get(ctx(t), org, "learner"); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	last := calls[len(calls)-1]
	if last.Method != "GET" || last.Path != "/repos/classroom/learner" || last.OperationID != "repos/get" || last.Status != 200 {
		t.Errorf("last call = %+v", last)
	}
	if !strings.HasPrefix(calls[0].Path, "/app/installations/") {
		t.Errorf("first call = %+v, want the token exchange", calls[0])
	}
}

func TestOutageAnswersEveryOperationUntilItEnds(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetFiles(org, "learner", "main", map[string]string{"a.txt": "a\n"})
	hook := newHookReceiver(t, "k")
	s.SetWebhook(hook.srv.URL, []byte("k"))
	c, apps := tokenClient(t, s, instID), jwtClient(t, s)
	link, _, err := c.Repositories.GetArchiveLink(ctx(t), org, "learner", github.Tarball, &github.RepositoryContentGetOptions{Ref: "main"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"apps/get-authenticated": func() error { _, _, err := apps.Apps.Get(ctx(t), ""); return err },
		"apps/get-installation":  func() error { _, _, err := apps.Apps.GetInstallation(ctx(t), instID); return err },
		"apps/get-repo-installation": func() error {
			_, _, err := apps.Apps.FindRepositoryInstallation(ctx(t), org, "learner")
			return err
		},
		"apps/list-webhook-deliveries": func() error { _, _, err := apps.Apps.ListHookDeliveries(ctx(t), nil); return err },
		"repos/get":                    func() error { _, _, err := c.Repositories.Get(ctx(t), org, "learner"); return err },
		"checks/create": func() error {
			_, _, err := c.Checks.CreateCheckRun(ctx(t), org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: "abc1234"})
			return err
		},
		"checks/list-for-ref": func() error {
			_, _, err := c.Checks.ListCheckRunsForRef(ctx(t), org, "learner", "abc1234", nil)
			return err
		},
		"issues/create-comment": func() error {
			_, _, err := c.Issues.CreateComment(ctx(t), org, "learner", 1, &github.IssueComment{Body: github.String("x")})
			return err
		},
	}

	s.SetOutage(&Outage{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}})
	jwt, token := "Bearer "+signJWT(t, s.AppID, s.PrivateKeyPEM, time.Minute), "token "+s.Token(instID)
	covered := map[string]bool{}
	for _, rq := range everyOperation {
		auth := token
		if strings.HasPrefix(rq.path, "/app") || strings.HasSuffix(rq.path, "/installation") {
			auth = jwt
		}
		if status, body := raw(t, s, auth, rq.method, rq.path, rq.body); status != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d %s, want 503", rq.op, status, body)
		}
		covered[rq.op] = true
	}
	for op := range handlers {
		if !covered[op] {
			t.Errorf("%s was not called during the outage", op)
		}
	}
	for op, call := range calls {
		err := call()
		var e *github.ErrorResponse
		if !errors.As(err, &e) || e.Response.StatusCode != http.StatusServiceUnavailable || e.Response.Header.Get("Retry-After") != "1" {
			t.Errorf("%s during the outage: %v, want 503 with Retry-After", op, err)
		}
	}
	if n, m := len(s.CheckRuns(org, "learner")), len(s.Comments(org, "learner", 1)); n+m != 0 {
		t.Errorf("%d check runs and %d comments made during the outage, want none", n, m)
	}
	// Neither the codeload download nor webhook deliveries are the API.
	resp, err := http.Get(link.String())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("codeload during the outage: %v %v", resp, err)
	}
	if err == nil {
		resp.Body.Close()
	}
	if _, status := s.Deliver("ping", []byte(`{}`)); status != http.StatusAccepted {
		t.Errorf("a delivery during the outage answered %d, want 202", status)
	}
	failed := map[string]bool{}
	for _, call := range s.Calls() {
		if call.Status == http.StatusServiceUnavailable {
			failed[call.OperationID] = true
		}
	}
	for op := range calls {
		if !failed[op] {
			t.Errorf("Calls() has no 503 answer of %s", op)
		}
	}

	s.SetOutage(nil)
	for op, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after the outage: %v", op, err)
		}
	}
	if n := len(s.CheckRuns(org, "learner")); n != 1 {
		t.Errorf("%d check runs after the outage, want 1", n)
	}
}

func TestOutageHangDelaysRequests(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	c := tokenClient(t, s, instID)
	const hang = 300 * time.Millisecond
	s.SetOutage(&Outage{Hang: hang})

	start := time.Now()
	if _, _, err := c.Repositories.Get(ctx(t), org, "learner"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < hang {
		t.Errorf("a request during a hang of %v took %v", hang, took)
	}

	// A client that gives up sooner sees a timeout; its request still takes effect, as a
	// slow GitHub's may.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, err := c.Checks.CreateCheckRun(short, org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: "abc1234"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) >= hang {
		t.Errorf("a client with a 50ms timeout got %v after %v, want its deadline before %v", err, time.Since(start), hang)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.CheckRuns(org, "learner")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.CheckRuns(org, "learner")); n != 1 {
		t.Errorf("%d check runs after the abandoned create, want 1", n)
	}

	// A hang before a failure: the failure comes after the hang, and without effect.
	s.SetOutage(&Outage{Status: http.StatusBadGateway, Hang: hang})
	start = time.Now()
	_, _, err = c.Issues.CreateComment(ctx(t), org, "learner", 1, &github.IssueComment{Body: github.String("x")})
	if statusOf(err) != http.StatusBadGateway || time.Since(start) < hang {
		t.Errorf("got %v after %v, want 502 after %v", err, time.Since(start), hang)
	}
	s.SetOutage(nil)
	start = time.Now()
	if _, _, err := c.Repositories.Get(ctx(t), org, "learner"); err != nil || time.Since(start) >= hang {
		t.Errorf("after the outage: %v after %v", err, time.Since(start))
	}
	if n := len(s.Comments(org, "learner", 1)); n != 0 {
		t.Errorf("%d comments, want none", n)
	}
}

// everyOperation is one valid request of each operation of the subset.
var everyOperation = []struct{ op, method, path, body string }{
	{"apps/get-authenticated", "GET", "/app", ""},
	{"apps/get-installation", "GET", "/app/installations/7", ""},
	{"apps/create-installation-access-token", "POST", "/app/installations/7/access_tokens", ""},
	{"apps/list-webhook-deliveries", "GET", "/app/hook/deliveries?per_page=2", ""},
	{"apps/get-webhook-delivery", "GET", "/app/hook/deliveries/1", ""},
	{"apps/redeliver-webhook-delivery", "POST", "/app/hook/deliveries/1/attempts", ""},
	{"apps/get-repo-installation", "GET", "/repos/classroom/learner/installation", ""},
	{"repos/get", "GET", "/repos/classroom/learner", ""},
	{"repos/update", "PATCH", "/repos/classroom/learner", `{"description":"x"}`},
	{"repos/create-in-org", "POST", "/orgs/classroom/repos", `{"name":"fresh"}`},
	{"repos/create-using-template", "POST", "/repos/classroom/learner/generate", `{"name":"generated"}`},
	{"repos/add-collaborator", "PUT", "/repos/classroom/learner/collaborators/alice", `{"permission":"push"}`},
	{"repos/remove-collaborator", "DELETE", "/repos/classroom/learner/collaborators/alice", ""},
	{"repos/download-tarball-archive", "GET", "/repos/classroom/learner/tarball/main", ""},
	{"checks/create", "POST", "/repos/classroom/learner/check-runs", `{"name":"x","head_sha":"abc"}`},
	{"checks/update", "PATCH", "/repos/classroom/learner/check-runs/1", `{"status":"in_progress"}`},
	{"checks/list-for-ref", "GET", "/repos/classroom/learner/commits/abc/check-runs?filter=all", ""},
	{"repos/list-pull-requests-associated-with-commit", "GET", "/repos/classroom/learner/commits/abc/pulls", ""},
	{"pulls/list", "GET", "/repos/classroom/learner/pulls", ""},
	{"issues/list-comments", "GET", "/repos/classroom/learner/issues/1/comments", ""},
	{"issues/create-comment", "POST", "/repos/classroom/learner/issues/1/comments", `{"body":"x"}`},
	{"issues/update-comment", "PATCH", "/repos/classroom/learner/issues/comments/1", `{"body":"x"}`},
	{"git/create-blob", "POST", "/repos/classroom/learner/git/blobs", `{"content":"x"}`},
	{"git/create-tree", "POST", "/repos/classroom/learner/git/trees", `{"tree":[]}`},
	{"git/create-commit", "POST", "/repos/classroom/learner/git/commits", `{"message":"m","tree":"abc"}`},
	{"git/create-ref", "POST", "/repos/classroom/learner/git/refs", `{"ref":"refs/heads/x","sha":"abc"}`},
	{"git/update-ref", "PATCH", "/repos/classroom/learner/git/refs/heads/main", `{"sha":"abc"}`},
}
