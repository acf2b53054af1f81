package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

// TestCloseWithoutRunner closes due take-homes with only the App's queue worked (no Docker):
// the scan at start finds them, each is closed once however many scans run, the candidate
// keeps read access only, and the final grading waits in the grading queue with its run.
func TestCloseWithoutRunner(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(inst, owner)
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "c", Title: "c"}}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, user := range []string{"ann", "bob"} {
		fake.AddRepo(inst, owner, "c-"+user, &githubtest.RepoOpts{Private: true})
		fake.SetFiles(owner, "c-"+user, "main", map[string]string{"README.md": "brief"})
		deadline := time.Now().Add(time.Hour)
		th, err := st.CreateTakeHome(ctx, store.TakeHome{Assignment: store.Assignment{InstallationID: inst, Owner: owner, Name: "c-" + user,
			Challenge: "c", User: user, Deadline: &deadline}, InvitedBy: "rita", InvitationSHA: fake.Head(owner, "c-"+user, "main")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, th.ID)
	}
	// ann's deadline passed an hour ago, while nothing ran; bob's is still ahead.
	if _, err := st.Pool.Exec(ctx, `UPDATE assignments SET deadline=now() - interval '1 hour' WHERE id=$1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := jobs.NewClient(jobs.Deps{Store: st, GitHub: app, Log: slog.New(slog.DiscardHandler)}, jobs.Options{Reporters: 2, DeadlineScan: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	}()
	th := waitTakeHome(t, st, ids[0], store.TakeHomeGrading, time.Minute)
	if th.FinalSHA != th.InvitationSHA || th.AccessRevokedAt == nil || th.FinalRunID == nil {
		t.Fatalf("closed take-home %+v; want the invitation commit (no push), access revoked, a final run", th)
	}
	if perm := fake.Collaborators(owner, "c-ann")["ann"]; perm != "pull" {
		t.Fatalf("ann's permission %q; want pull", perm)
	}
	time.Sleep(2 * time.Second) // several more scans
	var finals, closes int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind='takehome_final_grade' AND state='available'),
		count(*) FILTER (WHERE kind='takehome_close') FROM river_job`).Scan(&finals, &closes); err != nil {
		t.Fatal(err)
	}
	if finals != 1 || closes != 1 {
		t.Fatalf("%d final gradings queued, %d close jobs; want exactly one of each", finals, closes)
	}
	if bob, _ := st.TakeHome(ctx, ids[1]); bob.State != store.TakeHomeOpen {
		t.Fatalf("bob's take-home is %s before its deadline", bob.State)
	}
	if n := fakeCalls(fake, "repos/add-collaborator"); n != 1 {
		t.Fatalf("%d permission changes; want 1", n)
	}
}

func fakeCalls(fake *githubtest.Server, op string) int {
	n := 0
	for _, c := range fake.Calls() {
		if c.OperationID == op {
			n++
		}
	}
	return n
}
