package github

import (
	"context"
	"fmt"
	"time"

	gh "github.com/google/go-github/v66/github"
)

// CheckName is the name of Holdfast's check run.
const CheckName = "Holdfast"

// RerunAction is the identifier of the check run's Re-run button.
const RerunAction = "rerun"

// Annotation points at a line of the repository.
type Annotation struct {
	Path      string
	StartLine int
	Column    int
	Message   string
	Title     string
}

// Completion is how a check run ends.
type Completion struct {
	Conclusion  string // success, failure, neutral, cancelled, skipped, timed_out
	Title       string
	Summary     string // markdown, at most 65535 characters (GitHub's limit)
	Text        string
	Annotations []Annotation
	Rerun       bool // offer the Re-run button
}

// annotationBatch is GitHub's limit of annotations per request; more are appended with further
// updates.
const annotationBatch = 50

// CreateCheckRun creates a queued check run on sha and returns its id.
func (i *Installation) CreateCheckRun(ctx context.Context, owner, repo, sha, detailsURL, externalID string) (int64, error) {
	opts := gh.CreateCheckRunOptions{Name: CheckName, HeadSHA: sha, Status: gh.String("queued"), ExternalID: gh.String(externalID),
		Output: &gh.CheckRunOutput{Title: gh.String("Queued"), Summary: gh.String("Waiting for a grader. Your commit is next in line.")}}
	if detailsURL != "" {
		opts.DetailsURL = gh.String(detailsURL)
	}
	cr, _, err := i.client.Checks.CreateCheckRun(ctx, owner, repo, opts)
	if err != nil {
		return 0, fmt.Errorf("create check run on %s/%s@%s: %w", owner, repo, sha, err)
	}
	return cr.GetID(), nil
}

// StartCheckRun marks a check run in progress. go-github's update options have no started_at,
// so this request is built by hand.
func (i *Installation) StartCheckRun(ctx context.Context, owner, repo string, id int64, started time.Time) error {
	body := map[string]any{"name": CheckName, "status": "in_progress", "started_at": started.UTC().Format(time.RFC3339),
		"output": map[string]string{"title": "Grading", "summary": "Building your image and running the scenarios."}}
	req, err := i.client.NewRequest("PATCH", fmt.Sprintf("repos/%s/%s/check-runs/%d", owner, repo, id), body)
	if err != nil {
		return err
	}
	if _, err := i.client.Do(ctx, req, nil); err != nil {
		return fmt.Errorf("start check run %d: %w", id, err)
	}
	return nil
}

// CompleteCheckRun completes a check run: the first update carries the conclusion, the output
// and up to 50 annotations; each further update appends the next 50.
func (i *Installation) CompleteCheckRun(ctx context.Context, owner, repo string, id int64, c Completion) error {
	out := &gh.CheckRunOutput{Title: gh.String(c.Title), Summary: gh.String(c.Summary)}
	if c.Text != "" {
		out.Text = gh.String(c.Text)
	}
	anns := toGitHub(c.Annotations)
	first := anns[:min(len(anns), annotationBatch)]
	out.Annotations = first
	opts := gh.UpdateCheckRunOptions{Name: CheckName, Status: gh.String("completed"), Conclusion: gh.String(c.Conclusion),
		CompletedAt: &gh.Timestamp{Time: time.Now().UTC()}, Output: out}
	if c.Rerun {
		opts.Actions = []*gh.CheckRunAction{{Label: "Re-run", Description: "Grade this commit again", Identifier: RerunAction}}
	}
	if _, _, err := i.client.Checks.UpdateCheckRun(ctx, owner, repo, id, opts); err != nil {
		return fmt.Errorf("complete check run %d: %w", id, err)
	}
	for rest := anns[len(first):]; len(rest) > 0; rest = rest[min(len(rest), annotationBatch):] {
		batch := rest[:min(len(rest), annotationBatch)]
		more := gh.UpdateCheckRunOptions{Name: CheckName, Output: &gh.CheckRunOutput{Title: gh.String(c.Title), Summary: gh.String(c.Summary), Annotations: batch}}
		if _, _, err := i.client.Checks.UpdateCheckRun(ctx, owner, repo, id, more); err != nil {
			return fmt.Errorf("add annotations to check run %d: %w", id, err)
		}
	}
	return nil
}

func toGitHub(as []Annotation) []*gh.CheckRunAnnotation {
	out := make([]*gh.CheckRunAnnotation, 0, len(as))
	for _, a := range as {
		line := max(a.StartLine, 1)
		ann := &gh.CheckRunAnnotation{Path: gh.String(a.Path), StartLine: gh.Int(line), EndLine: gh.Int(line),
			AnnotationLevel: gh.String("failure"), Message: gh.String(truncate(a.Message, 60000))}
		if a.Column > 0 {
			ann.StartColumn, ann.EndColumn = gh.Int(a.Column), gh.Int(a.Column)
		}
		if a.Title != "" {
			ann.Title = gh.String(truncate(a.Title, 255))
		}
		out = append(out, ann)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// FindCheckRun looks for Holdfast's check run on sha whose external_id is externalID, and
// returns its id. After a create whose answer was lost (a timeout, a 5xx GitHub may have
// processed anyway), this is how a retry avoids making a second check run.
func (i *Installation) FindCheckRun(ctx context.Context, owner, repo, sha, externalID string) (int64, bool, error) {
	opts := &gh.ListCheckRunsOptions{CheckName: gh.String(CheckName), Filter: gh.String("all"), ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ { // GitHub keeps at most 1000 check runs of a name per suite
		res, resp, err := i.client.Checks.ListCheckRunsForRef(ctx, owner, repo, sha, opts)
		if err != nil {
			return 0, false, fmt.Errorf("list check runs of %s/%s@%s: %w", owner, repo, sha, err)
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() == externalID {
				return cr.GetID(), true, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return 0, false, nil
}
