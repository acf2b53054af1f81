package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckRun is a check run as the App left it, with what it went through.
type CheckRun struct {
	ID      int64
	HeadSHA string
	Name    string
	// Status is queued, in_progress or completed.
	Status string
	// Conclusion is empty until the run is completed.
	Conclusion  string
	StartedAt   time.Time
	CompletedAt time.Time
	Output      CheckRunOutput
	// Annotations are every annotation sent, in order: GitHub appends each request's
	// annotations to those of the earlier ones.
	Annotations []Annotation
	// Actions are the buttons of the last request that set them.
	Actions    []Action
	DetailsURL string
	ExternalID string
	// History lists each state the run entered: "queued", "in_progress", "completed:success".
	History []string
	// Updates counts the checks/update requests.
	Updates int
}

// CheckRunOutput is the latest title, summary and text of a check run.
type CheckRunOutput struct {
	Title, Summary, Text string
}

// Annotation is a check-run annotation as sent.
type Annotation struct {
	Path                   string
	StartLine, EndLine     int
	StartColumn, EndColumn int // 0 if not sent
	Level                  string
	Message, Title         string
	RawDetails             string
}

// Action is a check-run button.
type Action struct {
	Label       string `json:"label"`
	Description string `json:"description"`
	Identifier  string `json:"identifier"`
}

type checkRun struct {
	CheckRun
	suite int64
}

// CheckRuns returns copies of the check runs of owner/name in creation order.
func (s *Server) CheckRuns(owner, name string) []CheckRun {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CheckRun
	for _, cr := range s.mustRepo(owner, name).checkRuns {
		c := cr.CheckRun
		c.Annotations, c.Actions, c.History = slices.Clone(c.Annotations), slices.Clone(c.Actions), slices.Clone(c.History)
		out = append(out, c)
	}
	return out
}

// checkRunInput is the body of checks/create and checks/update; pointers tell an absent
// field from an empty one.
type checkRunInput struct {
	Name        *string    `json:"name"`
	HeadSHA     string     `json:"head_sha"`
	DetailsURL  *string    `json:"details_url"`
	ExternalID  *string    `json:"external_id"`
	Status      *string    `json:"status"`
	Conclusion  *string    `json:"conclusion"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Output      *struct {
		Title       *string `json:"title"`
		Summary     *string `json:"summary"`
		Text        *string `json:"text"`
		Annotations []struct {
			Path            string `json:"path"`
			StartLine       int    `json:"start_line"`
			EndLine         int    `json:"end_line"`
			StartColumn     *int   `json:"start_column"`
			EndColumn       *int   `json:"end_column"`
			AnnotationLevel string `json:"annotation_level"`
			Message         string `json:"message"`
			Title           string `json:"title"`
			RawDetails      string `json:"raw_details"`
		} `json:"annotations"`
	} `json:"output"`
	Actions *[]Action `json:"actions"`
}

// annotationFieldMax is GitHub's limit on an annotation's message and raw_details ("The
// maximum size is 64 KB"), which the schema states only in prose.
const annotationFieldMax = 64 * 1024

// proseRules checks the limits GitHub documents in prose rather than in the schema; the
// schema has already enforced the rest.
func (in *checkRunInput) proseRules(alreadyCompleted bool) []string {
	var broken []string
	if in.Status != nil && (*in.Status == "waiting" || *in.Status == "requested" || *in.Status == "pending") {
		broken = append(broken, fmt.Sprintf("status %q can only be set by GitHub Actions", *in.Status))
	}
	if in.Conclusion != nil && *in.Conclusion == "stale" {
		broken = append(broken, `conclusion "stale" can only be set by GitHub`)
	}
	if in.CompletedAt != nil && in.Conclusion == nil && !alreadyCompleted {
		broken = append(broken, "conclusion is required with completed_at")
	}
	if in.Output != nil {
		for i, a := range in.Output.Annotations {
			if (a.StartColumn != nil || a.EndColumn != nil) && a.StartLine != a.EndLine {
				broken = append(broken, fmt.Sprintf("annotations[%d]: start_column and end_column are only allowed when start_line equals end_line (%d ≠ %d)", i, a.StartLine, a.EndLine))
			}
			if len(a.Message) > annotationFieldMax || len(a.RawDetails) > annotationFieldMax {
				broken = append(broken, fmt.Sprintf("annotations[%d]: message and raw_details are limited to 64 KB", i))
			}
			if utf8.RuneCountInString(a.Title) > 255 {
				broken = append(broken, fmt.Sprintf("annotations[%d]: title is limited to 255 characters", i))
			}
		}
	}
	return broken
}

// apply merges a create or update request into cr as GitHub does: a conclusion completes the
// run, annotations are appended, the other output fields and the actions replaced.
func (in *checkRunInput) apply(cr *checkRun, now time.Time) {
	if in.Name != nil {
		cr.Name = *in.Name
	}
	if in.DetailsURL != nil {
		cr.DetailsURL = *in.DetailsURL
	}
	if in.ExternalID != nil {
		cr.ExternalID = *in.ExternalID
	}
	if in.Status != nil {
		cr.Status = *in.Status
		if cr.Status != "completed" {
			cr.Conclusion, cr.CompletedAt = "", time.Time{}
		}
	}
	if in.Conclusion != nil {
		cr.Status, cr.Conclusion = "completed", *in.Conclusion
	}
	if in.StartedAt != nil {
		cr.StartedAt = in.StartedAt.UTC()
	}
	if in.CompletedAt != nil {
		cr.CompletedAt = in.CompletedAt.UTC()
	}
	if cr.Status == "completed" && cr.CompletedAt.IsZero() {
		cr.CompletedAt = now
	}
	if out := in.Output; out != nil {
		if out.Title != nil {
			cr.Output.Title = *out.Title
		}
		if out.Summary != nil {
			cr.Output.Summary = *out.Summary
		}
		if out.Text != nil {
			cr.Output.Text = *out.Text
		}
		for _, a := range out.Annotations {
			ann := Annotation{Path: a.Path, StartLine: a.StartLine, EndLine: a.EndLine, Level: a.AnnotationLevel,
				Message: a.Message, Title: a.Title, RawDetails: a.RawDetails}
			if a.StartColumn != nil {
				ann.StartColumn = *a.StartColumn
			}
			if a.EndColumn != nil {
				ann.EndColumn = *a.EndColumn
			}
			cr.Annotations = append(cr.Annotations, ann)
		}
	}
	if in.Actions != nil {
		cr.Actions = slices.Clone(*in.Actions)
	}
	state := cr.Status
	if cr.Status == "completed" {
		state += ":" + cr.Conclusion
	}
	if len(cr.History) == 0 || cr.History[len(cr.History)-1] != state {
		cr.History = append(cr.History, state)
	}
}

// brokenRules fails the test for a request GitHub rejects by its prose rules.
func (s *Server) brokenRules(rq *request, broken []string) response {
	for _, b := range broken {
		s.t.Errorf("githubtest: %s (%s %s) breaks GitHub's documented rules: %s", rq.op, rq.method, rq.path, b)
	}
	return validationFailed("CheckRun", "", "invalid", broken[0])
}

func (s *Server) createCheckRun(rq *request) response {
	in, err := decode[checkRunInput](rq)
	if err != nil {
		return s.badBody(err)
	}
	if broken := in.proseRules(false); len(broken) > 0 {
		return s.brokenRules(rq, broken)
	}
	rp, now := rq.repo, s.now()
	cr := &checkRun{CheckRun: CheckRun{ID: s.nextID(), HeadSHA: in.HeadSHA, Status: "queued", StartedAt: now}}
	if cr.suite = rp.suites[in.HeadSHA]; cr.suite == 0 {
		cr.suite = s.nextID()
		rp.suites[in.HeadSHA] = cr.suite
	}
	in.apply(cr, now)
	rp.checkRuns = append(rp.checkRuns, cr)
	return reply(http.StatusCreated, s.checkRunJSON(rp, cr))
}

func (s *Server) updateCheckRun(rq *request) response {
	var cr *checkRun
	for _, c := range rq.repo.checkRuns {
		if fmt.Sprint(c.ID) == rq.vars["check_run_id"] {
			cr = c
		}
	}
	if cr == nil {
		return errorReply(http.StatusNotFound, "Not Found")
	}
	in, err := decode[checkRunInput](rq)
	if err != nil {
		return s.badBody(err)
	}
	if broken := in.proseRules(cr.Status == "completed"); len(broken) > 0 {
		return s.brokenRules(rq, broken)
	}
	in.apply(cr, s.now())
	cr.Updates++
	return reply(http.StatusOK, s.checkRunJSON(rq.repo, cr))
}

func (s *Server) checkRunJSON(rp *repo, cr *checkRun) map[string]any {
	url := fmt.Sprintf("%s/repos/%s/check-runs/%d", s.URL, rp.fullName(), cr.ID)
	orNil := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	timeOrNil := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Format(time.RFC3339)
	}
	pulls := []map[string]any{}
	for _, p := range rp.sortedPulls() {
		if p.headSHA == cr.HeadSHA && p.state == "open" {
			pulls = append(pulls, s.pullMinimalJSON(rp, p))
		}
	}
	return map[string]any{
		"id": cr.ID, "node_id": nodeID("CR", cr.ID), "head_sha": cr.HeadSHA, "name": cr.Name,
		"external_id": cr.ExternalID, "details_url": orNil(cr.DetailsURL),
		"url": url, "html_url": fmt.Sprintf("%s/%s/runs/%d", s.URL, rp.fullName(), cr.ID),
		"status": cr.Status, "conclusion": orNil(cr.Conclusion),
		"started_at": timeOrNil(cr.StartedAt), "completed_at": timeOrNil(cr.CompletedAt),
		"output": map[string]any{
			"title": orNil(cr.Output.Title), "summary": orNil(cr.Output.Summary), "text": orNil(cr.Output.Text),
			"annotations_count": len(cr.Annotations), "annotations_url": url + "/annotations",
		},
		"check_suite": map[string]any{"id": cr.suite}, "app": s.appJSON(), "pull_requests": pulls,
	}
}

// listCheckRunsForRef is checks/list-for-ref. ref is a commit id, or a branch or tag the
// repository's git data knows (main, heads/main, refs/heads/main, tags/v1); anything else is
// taken as a commit id as given, so a ref nothing was reported on lists nothing. The runs
// come newest first; check_name, status and app_id narrow them, and then filter=latest (the
// default) keeps the newest run of each name, filter=all every one. total_count counts them
// all, the page (per_page, page) holds some.
func (s *Server) listCheckRunsForRef(rq *request) response {
	rp, ref := rq.repo, rq.vars["ref"]
	sha := ref
	if resolved, ok := rp.git.resolve(ref); ok {
		sha = resolved
	} else if resolved, ok := rp.git.resolve("refs/" + ref); ok {
		sha = resolved
	}
	name, status := rq.query.Get("check_name"), rq.query.Get("status")
	appID := s.AppID // every check run of the fake is its App's
	if v := rq.query.Get("app_id"); v != "" {
		appID, _ = strconv.ParseInt(v, 10, 64) // the validator checked it is an integer
	}
	latest := rq.query.Get("filter") != "all"

	var list []*checkRun
	seen := map[string]bool{}
	for _, cr := range slices.Backward(rp.checkRuns) {
		switch {
		case !strings.EqualFold(cr.HeadSHA, sha), appID != s.AppID,
			name != "" && cr.Name != name, status != "" && cr.Status != status,
			latest && seen[cr.Name]:
			continue
		}
		seen[cr.Name] = true
		list = append(list, cr)
	}
	lo, hi, header := s.paginate(rq, len(list))
	runs := []map[string]any{}
	for _, cr := range list[lo:hi] {
		runs = append(runs, s.checkRunJSON(rp, cr))
	}
	return response{status: http.StatusOK, header: header, body: map[string]any{"total_count": len(list), "check_runs": runs}}
}
