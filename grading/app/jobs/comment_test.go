package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

// TestStickyCommentWhenGradingsFinishTogether lets several gradings of one pull request publish
// at the same moment: there must be exactly one comment, showing the newest run.
func TestStickyCommentWhenGradingsFinishTogether(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(3, "org")
	fake.AddRepo(3, "org", "repo", &githubtest.RepoOpts{ID: 33})
	fake.AddComment("org", "repo", 5, "alice", "a human's comment, to be left alone")
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "c", Title: "c"}}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: 3, RepoID: 33, Owner: "org", Name: "repo", Challenge: "c", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := &GradeWorker{Deps: Deps{Store: st, GitHub: app, Log: slog.New(slog.DiscardHandler)}}
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := store.Run{ID: int64(i), SHA: fmt.Sprintf("%040d", i), Assignment: a}
			errs[i-1] = w.comment(ctx, runSubject{run: run}.state(), sticky{Key: a.Challenge, Body: fmt.Sprintf("report of run %d", i)}, 5)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var ours []githubtest.Comment
	for _, c := range fake.Comments("org", "repo", 5) {
		if c.Login == fake.BotLogin {
			ours = append(ours, c)
		}
	}
	if len(ours) != 1 || !strings.Contains(ours[0].Body, fmt.Sprintf("report of run %d", n)) {
		t.Fatalf("bot comments %+v; want exactly one, showing run %d", ours, n)
	}
	if len(fake.Comments("org", "repo", 5)) != 2 {
		t.Fatal("the human's comment must stay")
	}
}
