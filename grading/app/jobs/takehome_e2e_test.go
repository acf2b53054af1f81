package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// TestTakeHomeDeadline is a take-home end to end, with real Postgres, River, the fake GitHub,
// and gradings on the scripted engine (gradingtest: no Docker). The candidate pushes a passing
// commit before the deadline; after it, a broken commit and a force-push arrive. The App's
// worker is down when the deadline passes: when it starts it closes the take-home anyway,
// removes push access and grades the last commit pushed before the deadline — the passing one —
// for the reviewers, hidden scenarios included. A second take-home, extended before its
// deadline, stays open.
func TestTakeHomeDeadline(t *testing.T) {
	// The runner grades pushes (scripted: no Docker); the App, which runs the deadline job, is
	// not running yet.
	a := apptest.New(t, apptest.Options{Engine: &gradingtest.Engine{}, Challenges: catalog.MustNew(catalog.Builtin()).Challenges(), Lookup: gradingtest.Lookup,
		Jobs: &jobs.Options{Graders: 1, DeadlineScan: time.Second}})
	passing, broken, _ := scripted(t)
	st, fake, ctx := a.Store, a.GitHub, context.Background()
	prov := &repos.Provisioner{Store: st, GitHub: a.Deps.GitHub, Installation: inst, Org: owner, Templates: os.DirFS("../../../templates"),
		Challenges: []string{"idempotent-payments"}}
	if _, err := prov.PublishTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(6 * time.Second)
	carol, err := prov.Invite(ctx, repos.InviteRequest{Challenge: "idempotent-payments", Candidate: "carol", Deadline: deadline, InvitedBy: "rita"})
	if err != nil {
		t.Fatal(err)
	}
	erin, err := prov.Invite(ctx, repos.InviteRequest{Challenge: "idempotent-payments", Candidate: "erin", Deadline: deadline, InvitedBy: "rita"})
	if err != nil {
		t.Fatal(err)
	}

	n := 0
	push := func(th store.TakeHome, sha, dir string, forced bool) {
		t.Helper()
		n++
		fake.SetTarball(owner, th.Name, sha, dir)
		p := wt.Load(t, "push.new-branch").Repo(inst, th.RepoID, owner, th.Name).Push("main", th.InvitationSHA, sha).Set("forced", forced)
		resp, out := wt.Deliver(t, a.Hook, apptest.Secret, "push", fmt.Sprintf("takehome-%d-%d", time.Now().UnixNano(), n), p)
		if resp.StatusCode != 202 || out["result"] != "queued" {
			t.Fatalf("push of %s: %d %v", sha[:7], resp.StatusCode, out)
		}
	}

	push(carol, commit("th-ref"), passing, false)
	if _, err := st.ExtendDeadline(ctx, erin.ID, "rita", deadline.Add(time.Hour)); err != nil {
		t.Fatalf("extend before the deadline: %v", err)
	}
	if err := sleepUntil(ctx, deadline.Add(store.SettleTime+time.Second)); err != nil {
		t.Fatal(err)
	}
	push(carol, commit("th-late"), broken, false)  // after the deadline
	push(carol, commit("th-forced"), broken, true) // a force-push rewriting history
	if _, err := st.ExtendDeadline(ctx, carol.ID, "rita", time.Now().Add(time.Hour)); !errors.Is(err, store.ErrDeadlinePassed) {
		t.Fatalf("extend after the deadline: %v; want ErrDeadlinePassed", err)
	}
	if got, _ := st.TakeHome(ctx, carol.ID); got.State != store.TakeHomeOpen {
		t.Fatalf("state %s before any deadline job ran; want open", got.State)
	}

	// The App starts: its first deadline scan runs at once and finds the passed deadline.
	a.Start(t, jobs.Options{Reporters: 1, DeadlineScan: time.Second})
	th := waitTakeHome(t, st, carol.ID, store.TakeHomeDone, 6*time.Minute)
	if th.FinalSHA != commit("th-ref") || th.FinalPushedAt == nil || th.AccessRevokedAt == nil {
		t.Fatalf("final commit %s (pushed %v, access revoked %v); want %s", th.FinalSHA, th.FinalPushedAt, th.AccessRevokedAt, commit("th-ref")[:7])
	}
	if th.FinalStatus != string(grading.Passed) || th.FinalScore == nil || *th.FinalScore != 100 {
		t.Fatalf("final verdict %s %v; want passed 100 (the passing commit, not the later broken pushes)", th.FinalStatus, th.FinalScore)
	}
	if perm := fake.Collaborators(owner, carol.Name)["carol"]; perm != "pull" {
		t.Fatalf("carol's permission after the deadline: %q; want pull (read only)", perm)
	}
	v, err := st.RunVerdict(ctx, *th.FinalRunID)
	if err != nil {
		t.Fatal(err)
	}
	hidden := 0
	for _, r := range v.Scenarios {
		if r.Visibility == scenarios.Hidden && r.Slug != "hidden" && r.Outcome == grading.OutcomePassed {
			hidden++
		}
	}
	if hidden == 0 {
		t.Fatalf("the stored final verdict withholds hidden scenarios: %+v", v.Scenarios)
	}
	onRef := 0
	for _, cr := range fake.CheckRuns(owner, carol.Name) {
		if cr.HeadSHA == commit("th-ref") {
			onRef++
		}
	}
	if onRef != 1 {
		t.Fatalf("%d check runs on the final commit; want only its push's: the final grading is for reviewers", onRef)
	}
	pushes, err := st.Pushes(ctx, carol.ID)
	if err != nil || len(pushes) != 3 {
		t.Fatalf("timeline: %+v %v; want the 3 pushes", pushes, err)
	}

	// Erin's extended take-home is untouched by the scans that ran meanwhile.
	if got, _ := st.TakeHome(ctx, erin.ID); got.State != store.TakeHomeOpen || got.AccessRevokedAt != nil {
		t.Fatalf("extended take-home: %s, revoked %v; want open", got.State, got.AccessRevokedAt)
	}
	if perm := fake.Collaborators(owner, erin.Name)["erin"]; perm != "push" {
		t.Fatalf("erin's permission: %q; want push", perm)
	}
	exts, _ := st.Extensions(ctx, erin.ID)
	if len(exts) != 1 || !exts[0].New.Equal(deadline.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("extensions: %+v", exts)
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

func waitTakeHome(t *testing.T, st *store.Store, id int64, state string, within time.Duration) store.TakeHome {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		th, err := st.TakeHome(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if th.State == state {
			return th
		}
		if time.Now().After(deadline) {
			t.Fatalf("take-home %d is %s after %s; want %s", id, th.State, within, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
