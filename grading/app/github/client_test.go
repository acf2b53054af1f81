package github_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
)

func newApp(t *testing.T) (*githubtest.Server, *github.App) {
	t.Helper()
	fake := githubtest.New(t)
	fake.AddInstallation(5, "org")
	fake.AddRepo(5, "org", "repo", nil)
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxAttempts: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return fake, app
}

// TestBotLoginIsReadAgainAfterAFailure: one failed installation lookup used to turn sticky
// comments off until the process restarted.
func TestBotLoginIsReadAgainAfterAFailure(t *testing.T) {
	fake, app := newApp(t)
	inst := app.Installation(5)
	fake.FailNext("apps/get-installation", 1, http.StatusBadGateway, nil)
	if _, err := inst.BotLogin(context.Background()); err == nil {
		t.Fatal("the failed lookup reported no error")
	}
	login, err := inst.BotLogin(context.Background())
	if err != nil || login != fake.BotLogin {
		t.Fatalf("second lookup: %q, %v; want %q", login, err, fake.BotLogin)
	}
	calls := 0
	for _, c := range fake.Calls() {
		if c.OperationID == "apps/get-installation" {
			calls++
		}
	}
	if _, err := inst.BotLogin(context.Background()); err != nil || calls != 2 {
		t.Fatalf("a known login is read again (%d lookups, %v)", calls, err)
	}
}

// TestStickyCommentFitsGitHubsLimit: a report near the check run's limit plus the comment's
// header and marker went over the comment's (GitHub answered 422 and the comment was lost).
func TestStickyCommentFitsGitHubsLimit(t *testing.T) {
	fake, app := newApp(t)
	body := "```text\n" + strings.Repeat("€ panic: x\n", 7000) // 77 000 bytes, an open code fence
	if _, err := app.Installation(5).UpsertStickyComment(context.Background(), "org", "repo", 1, github.Marker("c"), body, 0); err != nil {
		t.Fatal(err)
	}
	cs := fake.Comments("org", "repo", 1)
	if len(cs) != 1 {
		t.Fatalf("%d comments", len(cs))
	}
	got := cs[0].Body
	if len(got) > github.MaxComment || !utf8.ValidString(got) {
		t.Fatalf("comment of %d bytes (valid UTF-8: %v); want at most %d", len(got), utf8.ValidString(got), github.MaxComment)
	}
	if !strings.Contains(got, "cut here to fit GitHub's limit") || strings.Count(got, "```")%2 != 0 || !strings.HasPrefix(got, github.Marker("c")) {
		t.Fatalf("the cut must keep the marker, close the fence and say so; ends with %q", got[len(got)-200:])
	}
}

// TestCreatesAreNotRepeatedAfterA5xx: GitHub may have made the check run or comment that it
// answered 5xx to; repeating the POST could make a second. Rate limits are repeated (nothing
// was made), and so are other requests.
func TestCreatesAreNotRepeatedAfterA5xx(t *testing.T) {
	fake := githubtest.New(t)
	fake.AddInstallation(5, "org")
	fake.AddRepo(5, "org", "repo", nil)
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inst, ctx := app.Installation(5), context.Background()
	count := func(op string) int {
		n := 0
		for _, c := range fake.Calls() {
			if c.OperationID == op {
				n++
			}
		}
		return n
	}
	fake.FailNext("checks/create", 1, http.StatusBadGateway, nil)
	if _, err := inst.CreateCheckRun(ctx, "org", "repo", strings.Repeat("a", 40), "", "1"); err == nil || count("checks/create") != 1 {
		t.Fatalf("create after a 502: %v, %d requests; want the error and one request", err, count("checks/create"))
	}
	fake.FailNext("issues/create-comment", 1, http.StatusInternalServerError, nil)
	if _, err := inst.UpsertStickyComment(ctx, "org", "repo", 1, github.Marker("c"), "x", 0); err == nil || count("issues/create-comment") != 1 {
		t.Fatalf("comment after a 500: %v, %d requests; want the error and one request", err, count("issues/create-comment"))
	}
	fake.FailNext("checks/create", 1, http.StatusForbidden, http.Header{"Retry-After": {"1"}})
	if _, err := inst.CreateCheckRun(ctx, "org", "repo", strings.Repeat("b", 40), "", "2"); err != nil || count("checks/create") != 3 {
		t.Fatalf("create after a rate limit: %v, %d requests in all; want it repeated once", err, count("checks/create"))
	}
	fake.FailNext("checks/list-for-ref", 1, http.StatusBadGateway, nil)
	if _, found, err := inst.FindCheckRun(ctx, "org", "repo", strings.Repeat("b", 40), "2"); err != nil || !found {
		t.Fatalf("a search after a 502 is repeated: %v, found %v", err, found)
	}
}

// TestWaitReadsEveryRateLimitedAnswer: a refused token mint (ghinstallation's error), a refused
// tarball link (go-github's bare "unexpected status code") and a primary rate limit all say how
// long GitHub asked for, so the job snoozes instead of failing.
func TestWaitReadsEveryRateLimitedAnswer(t *testing.T) {
	fake, app := newApp(t)
	ctx := context.Background()
	fake.FailNext("apps/create-installation-access-token", 1, http.StatusForbidden, http.Header{"Retry-After": {"7"}})
	_, _, err := app.Installation(5).FindCheckRun(ctx, "org", "repo", strings.Repeat("a", 40), "1")
	if wait, ok := github.Wait(err); !ok || wait != 7*time.Second {
		t.Errorf("token refused: Wait(%v) = %s, %v; want 7s", err, wait, ok)
	}
	fake.FailNext("repos/download-tarball-archive", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"9"}})
	err = app.Installation(5).DownloadCommit(ctx, "org", "repo", strings.Repeat("a", 40), t.TempDir())
	if wait, ok := github.Wait(err); !ok || wait != 9*time.Second {
		t.Errorf("tarball link refused: Wait(%v) = %s, %v; want 9s", err, wait, ok)
	}
	reset := time.Now().Add(30 * time.Second)
	fake.FailNext("checks/list-for-ref", 1, http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}})
	_, _, err = app.Installation(5).FindCheckRun(ctx, "org", "repo", strings.Repeat("a", 40), "1")
	if wait, ok := github.Wait(err); !ok || wait < 20*time.Second || wait > 40*time.Second {
		t.Errorf("primary rate limit: Wait(%v) = %s, %v; want about 30s", err, wait, ok)
	}
}
