package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (deploy/chromium.sh installs it). Without one the browser
// tests skip, unless HOLDFAST_REQUIRE_BROWSER is set (CI), where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HOLDFAST_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH but HOLDFAST_REQUIRE_BROWSER is set: run `bash deploy/chromium.sh`")
	}
	t.Skip("no chromium on PATH: run `bash deploy/chromium.sh` to install Debian's")
	return ""
}

// artifacts is where screenshots go: $HOLDFAST_ARTIFACTS/browser, or the test's temp dir.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("HOLDFAST_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "browser")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// newBrowser starts a headless Chromium with its own fresh profile: every browser is a
// different person, sharing no cookies.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel(); cancel() })
	return bctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", name, len(png))
}

// TestBrowser drives the reviewer pages in headless Chromium: a reviewer signs in, reads the
// dashboard, a take-home's report and a full run report, and extends a deadline with the form;
// a candidate's browser is sent to sign in from every reviewer page, cannot sign in with a
// made-up token, and sees its runs without hidden or reviewer-only scenarios.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	s := newSite(t, nil)
	dir := artifacts(t)
	base := s.srv.URL

	rev := newBrowser(t, exe)
	do(t, rev, "sign in",
		chromedp.Navigate(base+"/reviewer/takehomes"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), s.token),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.takehomes`)),
	)
	if loc := location(t, rev); loc != base+"/reviewer/takehomes" {
		t.Fatalf("after sign-in the browser is at %s; want the page it asked for", loc)
	}
	page := text(t, rev)
	for _, want := range []string{"@carol", "@erin", "done", "66", "Extend"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard does not show %q:\n%s", want, page)
		}
	}
	screenshot(t, rev, dir, "reviewer-takehomes.png")

	do(t, rev, "open the take-home report", chromedp.Navigate(base+"/reviewer/takehomes/"+itoa(s.closed.ID)), chromedp.WaitVisible(chromedp.CSS(`table.timeline`)))
	page = text(t, rev)
	for _, want := range []string{"Commit timeline", "after the deadline", "Time spent", "secret_one", "reviewer_note", "exactly one charge"} {
		if !strings.Contains(page, want) {
			t.Errorf("take-home report does not show %q", want)
		}
	}
	screenshot(t, rev, dir, "reviewer-takehome-report.png")

	do(t, rev, "open a run report", chromedp.Navigate(base+"/reviewer/runs/"+itoa(s.runID)), chromedp.WaitVisible(chromedp.CSS(`table.scenarios`)))
	page = text(t, rev)
	for _, want := range []string{"secret_one", "reviewer_note", "two charges", "use the key", "whole-run output"} {
		if !strings.Contains(page, want) {
			t.Errorf("run report does not show %q", want)
		}
	}
	screenshot(t, rev, dir, "reviewer-run-report.png")

	do(t, rev, "open the challenge's submissions", chromedp.Navigate(base+"/reviewer/challenges/idempotent-payments"), chromedp.WaitVisible(chromedp.CSS(`table.runs`)))
	screenshot(t, rev, dir, "reviewer-submissions.png")
	do(t, rev, "open the score history", chromedp.Navigate(base+"/reviewer/assignments/"+itoa(s.closed.ID)), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
	screenshot(t, rev, dir, "reviewer-score-history.png")

	do(t, rev, "extend erin's deadline with the form",
		chromedp.Navigate(base+"/reviewer/takehomes"),
		chromedp.WaitVisible(chromedp.CSS(`#th-`+itoa(s.open.ID)+` form.extend button`)),
		chromedp.Click(chromedp.CSS(`#th-`+itoa(s.open.ID)+` form.extend button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if exts, _ := s.st.Extensions(context.Background(), s.open.ID); len(exts) != 1 || exts[0].By != "rita" {
		t.Fatalf("extensions after the form: %+v; want one by rita", exts)
	}
	screenshot(t, rev, dir, "reviewer-extended.png")

	// A candidate: a different browser, no reviewer session.
	cand := newBrowser(t, exe)
	for _, path := range []string{"/reviewer/takehomes", "/reviewer/runs/" + itoa(s.finalID), "/reviewer/takehomes/" + itoa(s.closed.ID), "/reviewer/takehomes.csv"} {
		do(t, cand, "candidate opens "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
		if loc := location(t, cand); !strings.HasPrefix(loc, base+"/login") {
			t.Fatalf("a candidate opening %s lands on %s; want the sign-in page", path, loc)
		}
		if page := text(t, cand); strings.Contains(page, "secret_one") || strings.Contains(page, "@carol") {
			t.Fatalf("the sign-in page shows reviewer data:\n%s", page)
		}
	}
	screenshot(t, cand, dir, "candidate-sent-to-sign-in.png")
	do(t, cand, "candidate tries a made-up token",
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), "hfr_"+strings.Repeat("A", 43)),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
	)
	if page := text(t, cand); !strings.Contains(page, "not a reviewer") {
		t.Fatalf("made-up token: %s", page)
	}
	for _, id := range []int64{s.runID, s.finalID} {
		token, err := s.st.ReportToken(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		do(t, cand, "candidate opens their run", chromedp.Navigate(base+"/runs/"+token), chromedp.WaitVisible(chromedp.CSS(`body`)))
		page := text(t, cand)
		if !strings.Contains(page, "visible_one") {
			t.Fatalf("the learner view of run %d does not show the public scenario:\n%s", id, page)
		}
		for _, secret := range []string{"secret_one", "reviewer_note", "exactly one charge", "secret trace", "whole-run output"} {
			if strings.Contains(page, secret) {
				t.Fatalf("the candidate's page for run %d shows %q", id, secret)
			}
		}
	}
	screenshot(t, cand, dir, "candidate-run.png")
}
