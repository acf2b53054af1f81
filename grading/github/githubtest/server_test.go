package githubtest

import (
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
	if len(ids) != 21 || len(handlers) != 21 {
		t.Errorf("the subset has %d operations and the fake %d handlers, want 21 each", len(ids), len(handlers))
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
