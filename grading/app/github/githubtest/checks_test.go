package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
)

func TestCheckRunLifecycleIsRecorded(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	c := appClient(t, s, instID)
	sha := strings.Repeat("a", 40)

	cr, _, err := c.Checks.CreateCheckRun(ctx(t), org, "learner", github.CreateCheckRunOptions{
		Name: "Holdfast", HeadSHA: sha, Status: github.String("queued"), ExternalID: github.String("run-1"),
		DetailsURL: github.String("https://holdfast.example/runs/1"),
		Output:     &github.CheckRunOutput{Title: github.String("Queued"), Summary: github.String("Waiting for a grader.")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cr.GetStatus() != "queued" || cr.GetApp().GetID() != s.AppID || cr.GetCheckSuite().GetID() == 0 {
		t.Errorf("created run = status %q, app %d, suite %d; want queued, app %d, a suite", cr.GetStatus(), cr.GetApp().GetID(), cr.GetCheckSuite().GetID(), s.AppID)
	}

	// The App starts the run by hand: go-github's update options have no started_at.
	start := map[string]any{"name": "Holdfast", "status": "in_progress", "started_at": time.Now().UTC().Format(time.RFC3339),
		"output": map[string]string{"title": "Grading", "summary": "Running the scenarios."}}
	req, err := c.NewRequest("PATCH", fmt.Sprintf("repos/%s/learner/check-runs/%d", org, cr.GetID()), start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx(t), req, nil); err != nil {
		t.Fatal(err)
	}

	anns := make([]*github.CheckRunAnnotation, 60)
	for i := range anns {
		anns[i] = &github.CheckRunAnnotation{Path: github.String("main.go"), StartLine: github.Int(i + 1), EndLine: github.Int(i + 1),
			StartColumn: github.Int(2), EndColumn: github.Int(5), AnnotationLevel: github.String("failure"), Message: github.String(fmt.Sprint("problem ", i))}
	}
	_, _, err = c.Checks.UpdateCheckRun(ctx(t), org, "learner", cr.GetID(), github.UpdateCheckRunOptions{
		Name: "Holdfast", Status: github.String("completed"), Conclusion: github.String("failure"),
		CompletedAt: &github.Timestamp{Time: time.Now()},
		Output:      &github.CheckRunOutput{Title: github.String("2 of 5 scenarios failed"), Summary: github.String("## Summary"), Annotations: anns[:50]},
		Actions:     []*github.CheckRunAction{{Label: "Re-run", Description: "Grade this commit again", Identifier: "rerun"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Checks.UpdateCheckRun(ctx(t), org, "learner", cr.GetID(), github.UpdateCheckRunOptions{
		Name: "Holdfast", Output: &github.CheckRunOutput{Title: github.String("2 of 5 scenarios failed"), Summary: github.String("## Summary"), Annotations: anns[50:]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := got.GetOutput().GetAnnotationsCount(); n != 60 {
		t.Errorf("annotations_count = %d, want 60 (appended across updates)", n)
	}

	runs := s.CheckRuns(org, "learner")
	if len(runs) != 1 {
		t.Fatalf("got %d check runs, want 1", len(runs))
	}
	run := runs[0]
	if want := []string{"queued", "in_progress", "completed:failure"}; !slices.Equal(run.History, want) {
		t.Errorf("History = %q, want %q", run.History, want)
	}
	if run.Status != "completed" || run.Conclusion != "failure" || run.HeadSHA != sha || run.Name != "Holdfast" {
		t.Errorf("run = %s/%s on %s named %q", run.Status, run.Conclusion, run.HeadSHA, run.Name)
	}
	if len(run.Annotations) != 60 || run.Annotations[59].Message != "problem 59" || run.Annotations[0].StartColumn != 2 {
		t.Errorf("got %d annotations, last %+v", len(run.Annotations), run.Annotations[len(run.Annotations)-1])
	}
	if run.Output.Title != "2 of 5 scenarios failed" || run.ExternalID != "run-1" || run.DetailsURL != "https://holdfast.example/runs/1" {
		t.Errorf("output %+v, external id %q, details %q", run.Output, run.ExternalID, run.DetailsURL)
	}
	if len(run.Actions) != 1 || run.Actions[0].Identifier != "rerun" || run.Updates != 3 {
		t.Errorf("actions %+v, updates %d; want the Re-run action and 3 updates", run.Actions, run.Updates)
	}
	if run.StartedAt.IsZero() || run.CompletedAt.IsZero() {
		t.Errorf("started %v, completed %v; want both set", run.StartedAt, run.CompletedAt)
	}
}

func TestCheckRunRequestsGitHubWouldRejectFailTheTest(t *testing.T) {
	t.Parallel()
	annotations := func(n int, extra string) string {
		var as []string
		for i := range n {
			as = append(as, fmt.Sprintf(`{"path":"a.go","start_line":%d,"end_line":%d,"annotation_level":"failure","message":"m"%s}`, i+1, i+1, extra))
		}
		return "[" + strings.Join(as, ",") + "]"
	}
	cases := []struct {
		name, method, body string
		want               []string
	}{
		{"51 annotations in one request", "POST",
			`{"name":"x","head_sha":"abc","output":{"title":"t","summary":"s","annotations":` + annotations(51, "") + `}}`,
			[]string{"checks/create", "/output/annotations", "maximum number of items is 50"}},
		{"51 annotations in one update", "PATCH",
			`{"output":{"summary":"s","annotations":` + annotations(51, "") + `}}`,
			[]string{"checks/update", "maximum number of items is 50"}},
		{"an unknown conclusion", "PATCH", `{"status":"completed","conclusion":"passed"}`,
			[]string{"checks/update", "conclusion", "not one of the allowed values"}},
		{"completed without conclusion", "POST", `{"name":"x","head_sha":"abc","status":"completed"}`,
			[]string{"checks/create", "conclusion"}},
		{"a summary over 65535 characters", "POST",
			`{"name":"x","head_sha":"abc","output":{"title":"t","summary":"` + strings.Repeat("x", 65536) + `"}}`,
			[]string{"checks/create", "/output/summary", "maximum string length is 65535"}},
		{"an action label over 20 characters", "PATCH",
			`{"actions":[{"label":"` + strings.Repeat("l", 21) + `","description":"d","identifier":"i"}]}`,
			[]string{"checks/update", "/actions/0/label", "maximum string length is 20"}},
		{"four actions", "PATCH",
			`{"actions":[` + strings.TrimSuffix(strings.Repeat(`{"label":"l","description":"d","identifier":"i"},`, 4), ",") + `]}`,
			[]string{"checks/update", "maximum number of items is 3"}},
		{"an annotation without a message", "PATCH",
			`{"output":{"summary":"s","annotations":[{"path":"a.go","start_line":1,"end_line":1,"annotation_level":"failure"}]}}`,
			[]string{"checks/update", "message"}},
		{"columns on a multi-line annotation", "PATCH",
			`{"output":{"summary":"s","annotations":[{"path":"a.go","start_line":1,"end_line":2,"start_column":1,"end_column":3,"annotation_level":"failure","message":"m"}]}}`,
			[]string{"checks/update", "start_column and end_column are only allowed when start_line equals end_line"}},
		{"the stale conclusion", "PATCH", `{"conclusion":"stale"}`,
			[]string{"checks/update", "stale"}},
		{"a status only Actions may set", "POST", `{"name":"x","head_sha":"abc","status":"waiting"}`,
			[]string{"checks/create"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &spyTB{TB: t}
			s := newFake(spy)
			token := "token " + s.Token(instID)
			status, _ := raw(t, s, token, "POST", "/repos/classroom/learner/check-runs", `{"name":"x","head_sha":"abc"}`)
			if status != http.StatusCreated {
				t.Fatalf("creating a valid check run answered %d", status)
			}
			id := s.CheckRuns(org, "learner")[0].ID
			path := "/repos/classroom/learner/check-runs"
			if tc.method == "PATCH" {
				path = fmt.Sprintf("%s/%d", path, id)
			}
			status, body := raw(t, s, token, tc.method, path, tc.body)
			if status != http.StatusUnprocessableEntity {
				t.Errorf("answered %d, want 422: %s", status, body)
			}
			spy.expectFailure(t, tc.want...)
			if runs := s.CheckRuns(org, "learner"); len(runs) != 1 || runs[0].Updates != 0 {
				t.Errorf("the rejected request changed state: %+v", runs)
			}
		})
	}
}

func TestCheckRunListsOpenPullRequestsOfItsHead(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	sha := strings.Repeat("b", 40)
	s.SetPull(org, "learner", 3, "feature", sha, "main")
	cr, _, err := tokenClient(t, s, instID).Checks.CreateCheckRun(ctx(t), org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: sha})
	if err != nil {
		t.Fatal(err)
	}
	if prs := cr.PullRequests; len(prs) != 1 || prs[0].GetNumber() != 3 || prs[0].GetHead().GetRef() != "feature" {
		t.Errorf("pull_requests = %+v, want #3 from feature", prs)
	}
}

func TestCheckRunsForRefAreFilteredPaginatedAndFoundByExternalID(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	c := appClient(t, s, instID)
	shaA, shaB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	create := func(sha, name, externalID string, conclusion string) int64 {
		t.Helper()
		opts := github.CreateCheckRunOptions{Name: name, HeadSHA: sha, ExternalID: github.String(externalID), Status: github.String("in_progress")}
		if conclusion != "" {
			opts.Status, opts.Conclusion = github.String("completed"), github.String(conclusion)
		}
		cr, _, err := c.Checks.CreateCheckRun(ctx(t), org, "learner", opts)
		if err != nil {
			t.Fatal(err)
		}
		return cr.GetID()
	}
	build1 := create(shaA, "build", "build-1", "failure")
	lint := create(shaA, "lint", "lint-1", "success")
	create(shaB, "build", "other-commit", "success")
	build2 := create(shaA, "build", "build-2", "")
	grade := create(shaA, "Holdfast", "grade-42", "")

	list := func(ref string, opts *github.ListCheckRunsOptions) ([]int64, int, *github.Response) {
		t.Helper()
		res, resp, err := c.Checks.ListCheckRunsForRef(ctx(t), org, "learner", ref, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, cr := range res.CheckRuns {
			if cr.GetHeadSHA() != ref && len(ref) == 40 {
				t.Errorf("run %d of %s listed for %s", cr.GetID(), cr.GetHeadSHA(), ref)
			}
			ids = append(ids, cr.GetID())
		}
		return ids, res.GetTotal(), resp
	}
	for _, tc := range []struct {
		name string
		opts *github.ListCheckRunsOptions
		want []int64
	}{
		{"latest by default", nil, []int64{grade, build2, lint}},
		{"all", &github.ListCheckRunsOptions{Filter: github.String("all")}, []int64{grade, build2, lint, build1}},
		{"by name, latest", &github.ListCheckRunsOptions{CheckName: github.String("build")}, []int64{build2}},
		{"by name, all", &github.ListCheckRunsOptions{CheckName: github.String("build"), Filter: github.String("all")}, []int64{build2, build1}},
		{"completed ones", &github.ListCheckRunsOptions{Status: github.String("completed"), Filter: github.String("all")}, []int64{lint, build1}},
		{"in progress", &github.ListCheckRunsOptions{Status: github.String("in_progress")}, []int64{grade, build2}},
		{"this App", &github.ListCheckRunsOptions{AppID: github.Int64(s.AppID)}, []int64{grade, build2, lint}},
		{"another App", &github.ListCheckRunsOptions{AppID: github.Int64(s.AppID + 1)}, nil},
	} {
		ids, total, _ := list(shaA, tc.opts)
		if !slices.Equal(ids, tc.want) || total != len(tc.want) {
			t.Errorf("%s: listed %v (total_count %d), want %v", tc.name, ids, total, tc.want)
		}
	}
	if ids, total, _ := list(strings.Repeat("c", 40), nil); len(ids) != 0 || total != 0 {
		t.Errorf("a commit without check runs lists %v (total %d)", ids, total)
	}

	// Pages of 2 over the 4 runs, following the Link header.
	var paged []int64
	opts := &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 2}}
	for page := 1; ; page++ {
		ids, total, resp := list(shaA, opts)
		if total != 4 || len(ids) != 2 {
			t.Errorf("page %d holds %d runs of total_count %d, want 2 of 4", page, len(ids), total)
		}
		if page == 1 && (resp.NextPage != 2 || resp.LastPage != 2 || !strings.Contains(resp.Header.Get("Link"), "filter=all")) {
			t.Errorf("first page's Link %q, want next and last page 2 keeping filter=all", resp.Header.Get("Link"))
		}
		paged = append(paged, ids...)
		if resp.NextPage == 0 {
			break
		}
		if page > 3 {
			t.Fatal("the pages do not end")
		}
		opts.Page = resp.NextPage
	}
	if want := []int64{grade, build2, lint, build1}; !slices.Equal(paged, want) {
		t.Errorf("pages listed %v, want %v", paged, want)
	}

	// After an ambiguous create the App finds its run again by its external_id.
	res, _, err := c.Checks.ListCheckRunsForRef(ctx(t), org, "learner", shaA, &github.ListCheckRunsOptions{CheckName: github.String("Holdfast"), Filter: github.String("all")})
	if err != nil {
		t.Fatal(err)
	}
	var found int64
	for _, cr := range res.CheckRuns {
		if cr.GetExternalID() == "grade-42" {
			found = cr.GetID()
		}
	}
	if found != grade {
		t.Errorf("external_id grade-42 found run %d, want %d", found, grade)
	}
}

func TestCheckRunsForABranchAreThoseOfItsHead(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	head := s.SetFiles(org, "learner", "feature/x", map[string]string{"a.go": "package a\n"})
	c := appClient(t, s, instID)
	cr, _, err := c.Checks.CreateCheckRun(ctx(t), org, "learner", github.CreateCheckRunOptions{Name: "Holdfast", HeadSHA: head})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{head, "feature/x", "heads/feature/x", head[:7]} {
		res, _, err := c.Checks.ListCheckRunsForRef(ctx(t), org, "learner", ref, nil)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if res.GetTotal() != 1 || len(res.CheckRuns) != 1 || res.CheckRuns[0].GetID() != cr.GetID() {
			t.Errorf("%s lists %d runs (%v), want run %d", ref, res.GetTotal(), res.CheckRuns, cr.GetID())
		}
	}
}
