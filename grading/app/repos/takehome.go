package repos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// InviteRequest is a reviewer's invitation of a candidate to a take-home.
type InviteRequest struct {
	Challenge string    `json:"challenge"`
	Candidate string    `json:"candidate"` // GitHub login
	Deadline  time.Time `json:"deadline"`
	Language  string    `json:"language"` // default go
	// Seed picks a variant of the task for challenges that have variants, so that two
	// candidates do not receive byte-identical tasks. It is recorded and named in the
	// invitation; a challenge without variants ignores it.
	Seed *int64 `json:"seed,omitempty"`
	// InvitedBy is the reviewer who invites (recorded).
	InvitedBy string `json:"-"`
}

// TakeHomeRepo names a candidate's take-home repository.
func TakeHomeRepo(slug, login string) string {
	return slug + "-" + strings.ToLower(login) + "-takehome"
}

// Invite creates a candidate's private take-home repository from the challenge's template,
// replaces its content by one commit whose README opens with the invitation (deadline, how
// grading works) above the brief, gives the candidate push access and records the take-home.
//
// The invitation is a README note rather than an issue: the GitHub operations Holdfast is
// allowed (shared/github/openapi) cannot open issues, but can write commits. The commit has no
// parent because the generated commit's id is unknown to the App; it carries the same files
// as the template, plus the note.
func (p *Provisioner) Invite(ctx context.Context, r InviteRequest) (store.TakeHome, error) {
	deadline := r.Deadline.UTC()
	req := AssignRequest{Challenge: r.Challenge, User: r.Candidate, Format: "take-home", Deadline: &deadline, Language: r.Language}
	if err := p.validate(&req); err != nil {
		return store.TakeHome{}, err
	}
	if strings.TrimSpace(r.InvitedBy) == "" {
		return store.TakeHome{}, fmt.Errorf("%w: say who invites (a reviewer's login)", ErrInvalid)
	}
	files, err := TemplateFiles(p.Templates, r.Challenge, req.Language)
	if err != nil {
		return store.TakeHome{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	inst := p.GitHub.Installation(p.Installation)
	name := TakeHomeRepo(r.Challenge, r.Candidate)
	repo, err := inst.GenerateRepo(ctx, p.Org, TemplateRepo(r.Challenge, req.Language), p.Org, name, true)
	if err != nil {
		return store.TakeHome{}, err
	}
	branch := repo.GetDefaultBranch()
	if branch == "" {
		branch = "main"
	}
	tool := p.LocalTool == nil || p.LocalTool(r.Challenge)
	files["README.md"] = append([]byte(InvitationNote(r.Candidate, deadline, branch, r.Seed, tool)), files["README.md"]...)
	sha, _, err := inst.PushCommit(ctx, p.Org, name, branch, github.Commit{Changed: files,
		Message: fmt.Sprintf("Take-home: %s for @%s, due %s", r.Challenge, r.Candidate, deadline.Format(time.RFC3339))})
	if err != nil {
		return store.TakeHome{}, fmt.Errorf("write the invitation to %s/%s: %w", p.Org, name, err)
	}
	if err := inst.AddCollaborator(ctx, p.Org, name, r.Candidate, "push"); err != nil {
		return store.TakeHome{}, err
	}
	return p.Store.CreateTakeHome(ctx, store.TakeHome{
		Assignment: store.Assignment{InstallationID: p.Installation, RepoID: repo.GetID(), Owner: p.Org, Name: name,
			Challenge: r.Challenge, User: r.Candidate, Deadline: &deadline},
		Branch: branch, Seed: r.Seed, InvitedBy: r.InvitedBy, InvitationSHA: sha,
	})
}

// InvitationNote is the text that opens a take-home's README: product copy for the candidate.
// With tool, it tells the candidate how to run the public scenarios locally with the holdfast
// tool; without, that pushing is how to see results.
func InvitationNote(candidate string, deadline time.Time, branch string, seed *int64, tool bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "> **Take-home for @%s** · due **%s** (%s)\n>\n", candidate,
		deadline.UTC().Format("Monday 2 January 2006, 15:04 MST"), deadline.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "> Welcome! The brief is below. Push your work to `%s`: every push is graded and the commit's\n", branch)
	b.WriteString("> check run shows you the public scenarios' results (hidden ones count, without details).\n")
	fmt.Fprintf(&b, "> At the deadline push access ends, and the last commit you pushed to `%s` before it is\n", branch)
	b.WriteString("> graded as your submission; pushes after the deadline are not considered.\n")
	if tool {
		b.WriteString(">\n> To check your work before you push, install the holdfast tool:\n")
		b.WriteString("> `go install github.com/holdfast-ci/holdfast/cmd/holdfast@latest`, then run `holdfast test` in\n")
		b.WriteString("> your repository; it runs the public scenarios only.\n")
	}
	if seed != nil {
		fmt.Fprintf(&b, ">\n> Your variant: seed %d (where the brief mentions variants).\n", *seed)
	}
	b.WriteString("\n")
	return b.String()
}

// ExtendedDeadline reads an extension of a take-home whose deadline is current: an absolute
// RFC 3339 deadline, or a duration added to the current one. The CLI (`app extend`), the
// reviewers' form and the API read extensions through it.
func ExtendedDeadline(current time.Time, deadline, add string) (time.Time, error) {
	switch {
	case deadline != "" && add != "":
		return time.Time{}, errors.New("give a new deadline or a duration to add, not both")
	case deadline != "":
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(deadline))
		if err != nil {
			return time.Time{}, fmt.Errorf("deadline %q is not RFC 3339, e.g. 2026-12-01T17:00:00Z", deadline)
		}
		return t, nil
	case add != "":
		d, err := time.ParseDuration(strings.TrimSpace(add))
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("%q is not a positive duration, e.g. 24h or 90m", add)
		}
		return current.Add(d), nil
	}
	return time.Time{}, errors.New("give a new deadline (RFC 3339) or a duration to add (e.g. 24h)")
}

// InviteDeadline reads a new take-home's deadline, given as RFC 3339 or as a duration from now.
func InviteDeadline(now time.Time, deadline, duration string) (time.Time, error) {
	if deadline == "" && duration == "" {
		return time.Time{}, errors.New("give a deadline (RFC 3339, e.g. 2026-12-01T17:00:00Z) or a duration from now (e.g. 72h)")
	}
	return ExtendedDeadline(now, deadline, duration)
}
