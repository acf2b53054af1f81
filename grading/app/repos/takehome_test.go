package repos_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/repos"
)

func TestInvite(t *testing.T) {
	t.Parallel()
	p, fake, st := setup(t)
	ctx := context.Background()
	if _, err := p.PublishTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	fake.SetGenerateLag(2)
	deadline := time.Date(2031, 3, 4, 17, 0, 0, 0, time.UTC)
	seed := int64(42)
	th, err := p.Invite(ctx, repos.InviteRequest{Challenge: "idempotent-payments", Candidate: "Cand-1", Deadline: deadline,
		Seed: &seed, InvitedBy: "rita"})
	if err != nil {
		t.Fatal(err)
	}
	name := "idempotent-payments-cand-1-takehome"
	if th.Name != name || th.Format != "take-home" || th.State != "open" || th.InvitedBy != "rita" || th.Seed == nil || *th.Seed != 42 {
		t.Fatalf("take-home %+v", th)
	}
	if perm := fake.Collaborators(org, name)["cand-1"]; perm != "push" {
		t.Fatalf("collaborators %v; want cand-1 with push", fake.Collaborators(org, name))
	}
	if head := fake.Head(org, name, "main"); head == "" || head != th.InvitationSHA {
		t.Fatalf("main is at %s; the recorded invitation commit is %s", head, th.InvitationSHA)
	}
	files := fake.Files(org, name, "main")
	template := fake.Files(org, repos.TemplateRepo("idempotent-payments", "go"), "main")
	readme := files["README.md"]
	for _, want := range []string{"Take-home for @Cand-1", "2031-03-04T17:00:00Z", "Tuesday 4 March 2031, 17:00 UTC", "seed 42", "pushed to `main` before it"} {
		if !strings.Contains(readme, want) {
			t.Errorf("the invitation does not say %q:\n%s", want, readme[:min(len(readme), 1200)])
		}
	}
	if !strings.HasSuffix(readme, template["README.md"]) {
		t.Error("the brief must follow the invitation unchanged")
	}
	if strings.Join(keys(files), " ") != strings.Join(keys(template), " ") || files["main.go"] != template["main.go"] {
		t.Fatalf("files %v; want the template's %v", keys(files), keys(template))
	}
	for _, c := range fake.Calls() {
		if c.OperationID == "repos/create-using-template" && !strings.Contains(string(c.Body), `"private":true`) {
			t.Fatalf("a take-home repository must be private: %s", c.Body)
		}
	}
	got, err := st.TakeHomeByRepo(ctx, org, name)
	if err != nil || got.ID != th.ID || got.Deadline == nil || !got.Deadline.Equal(deadline) || got.RepoID == 0 {
		t.Fatalf("stored: %+v %v", got, err)
	}
	if a, err := st.AssignmentByRepo(ctx, got.RepoID, "", ""); err != nil || a.ID != th.ID {
		t.Fatalf("webhooks must find the take-home as an assignment: %+v %v", a, err)
	}

	_, err = p.Invite(ctx, repos.InviteRequest{Challenge: "idempotent-payments", Candidate: "dave", Deadline: time.Now().Add(-time.Minute), InvitedBy: "rita"})
	if !errors.Is(err, repos.ErrInvalid) || !strings.Contains(err.Error(), "already passed") {
		t.Fatalf("past deadline: %v", err)
	}
	_, err = p.Invite(ctx, repos.InviteRequest{Challenge: "idempotent-payments", Candidate: "dave", Deadline: deadline})
	if !errors.Is(err, repos.ErrInvalid) || !strings.Contains(err.Error(), "who invites") {
		t.Fatalf("no inviter: %v", err)
	}
}

// TestInvitationPointsAtTheLearnerTool: a candidate is sent to the holdfast tool, which runs the
// public scenarios only, never to Holdfast's source, where references and hidden scenarios are.
func TestInvitationPointsAtTheLearnerTool(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	note := repos.InvitationNote("carol", due, "main", nil, true)
	for _, want := range []string{"go install github.com/holdfast-ci/holdfast/cmd/holdfast@latest", "`holdfast test`", "public scenarios only"} {
		if !strings.Contains(note, want) {
			t.Errorf("the invitation does not say %q:\n%s", want, note)
		}
	}
	for _, never := range []string{"--show-hidden", "runner", "cmd/runner", "scenarios/", "reference"} {
		if strings.Contains(note, never) {
			t.Errorf("the invitation mentions %q, which leads to hidden material:\n%s", never, note)
		}
	}
	// A pack's challenge is unknown to the public tool: its invitation does not send the
	// candidate to it.
	if note := repos.InvitationNote("carol", due, "main", nil, false); strings.Contains(note, "holdfast test") || !strings.Contains(note, "every push is graded") {
		t.Errorf("without the tool, the invitation still names it, or no longer says pushes are graded:\n%s", note)
	}
}
