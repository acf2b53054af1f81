// Package repos creates learners' repositories from challenge templates and publishes the
// templates themselves: one template repository per challenge and language, built from
// <slug>/README.md (the brief) and <slug>/starter/<lang>/ (the starter) of Templates, and
// nothing else — solutions and hidden material live with the scenarios and never leave.
package repos

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// Provisioner acts for one installation in one organisation.
type Provisioner struct {
	Store        *store.Store
	GitHub       *github.App
	Installation int64
	Org          string
	// Templates holds <slug>/README.md and <slug>/starter/<lang>/ of every challenge: the
	// catalog's Templates (built-in challenges from the templates/ directory, packs' from
	// their files), or os.DirFS of a templates/ directory.
	Templates fs.FS
	// Challenges are the slugs that can be assigned.
	Challenges []string
	// LocalTool says whether the public holdfast tool can run a challenge's public scenarios
	// (it knows the built-in challenges, not a pack's); an invitation names the tool only then.
	// Nil: every challenge.
	LocalTool func(slug string) bool
	Now       func() time.Time
}

// AssignRequest is what a reviewer or a course asks for.
type AssignRequest struct {
	Challenge string     `json:"challenge"`
	User      string     `json:"user"`
	Format    string     `json:"format"`   // practice (default) or take-home
	Deadline  *time.Time `json:"deadline"` // required for take-home
	Language  string     `json:"language"` // default go
}

// ErrInvalid wraps every problem with a request; its message says what to change.
var ErrInvalid = errors.New("invalid assignment")

var loginRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-(?:[A-Za-z0-9])){0,38}$`)

// TemplateRepo names a challenge's template repository for a language.
func TemplateRepo(slug, lang string) string { return "holdfast-" + slug + "-" + lang }

func (p *Provisioner) validate(r *AssignRequest) error {
	var problems []string
	known := false
	for _, c := range p.Challenges {
		known = known || c == r.Challenge
	}
	if !known {
		problems = append(problems, fmt.Sprintf("unknown challenge %q (known: %s)", r.Challenge, strings.Join(p.Challenges, ", ")))
	}
	if !loginRE.MatchString(r.User) {
		problems = append(problems, fmt.Sprintf("%q is not a GitHub login", r.User))
	}
	if r.Format == "" {
		r.Format = "practice"
	}
	if r.Language == "" {
		r.Language = "go"
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	switch r.Format {
	case "practice":
	case "take-home":
		if r.Deadline == nil {
			problems = append(problems, "a take-home needs a deadline (RFC 3339, e.g. 2026-12-01T17:00:00Z)")
		}
	default:
		problems = append(problems, fmt.Sprintf("format %q is not practice or take-home", r.Format))
	}
	if r.Deadline != nil && !r.Deadline.After(now()) {
		problems = append(problems, "the deadline has already passed")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Assign generates the learner's repository from the challenge's template, gives the learner
// push access and records the assignment. A take-home repository is private.
func (p *Provisioner) Assign(ctx context.Context, r AssignRequest) (store.Assignment, error) {
	if err := p.validate(&r); err != nil {
		return store.Assignment{}, err
	}
	inst := p.GitHub.Installation(p.Installation)
	name := r.Challenge + "-" + strings.ToLower(r.User)
	repo, err := inst.GenerateRepo(ctx, p.Org, TemplateRepo(r.Challenge, r.Language), p.Org, name, r.Format == "take-home")
	if err != nil {
		return store.Assignment{}, err
	}
	if err := inst.AddCollaborator(ctx, p.Org, name, r.User, "push"); err != nil {
		return store.Assignment{}, err
	}
	return p.Store.CreateAssignment(ctx, store.Assignment{InstallationID: p.Installation, RepoID: repo.GetID(),
		Owner: p.Org, Name: name, Challenge: r.Challenge, User: r.User, Format: r.Format, Deadline: r.Deadline})
}
