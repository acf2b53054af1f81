package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/web"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// site is a test App with reviewer pages, seeded with one practice run, one closed take-home
// graded at its deadline and one open take-home.
type site struct {
	t       testing.TB
	st      *store.Store
	srv     *httptest.Server
	token   string // a reviewer's
	runID   int64  // the practice run (hidden and reviewer-only scenarios)
	closed  store.TakeHome
	open    store.TakeHome
	finalID int64
}

// verdict is a reviewer-complete verdict: a public pass, a hidden failure and a reviewer-only
// pass, each with details a candidate must not see.
func verdict(score int) grading.Verdict {
	return grading.Verdict{Challenge: "idempotent-payments", Status: grading.Failed, Score: score, LogTail: "app: whole-run output\n",
		Timings: grading.Timings{Build: grading.Millis(1200 * time.Millisecond), Total: grading.Millis(9 * time.Second)},
		Scenarios: []grading.ScenarioResult{
			{Slug: "visible_one", Title: "A public check", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomePassed},
			{Slug: "secret_one", Title: "A hidden check", Visibility: scenarios.Hidden, Weight: 1, Outcome: grading.OutcomeFailed,
				Failure: &scenarios.Failure{Expected: "exactly one charge", Actual: "two charges", Hint: "use the key"}, LogTail: "app: secret trace\n"},
			{Slug: "reviewer_note", Title: "For reviewers", Visibility: scenarios.ReviewerOnly, Weight: 1, Outcome: grading.OutcomePassed},
		}}
}

func newSite(t testing.TB, invite func(context.Context, repos.InviteRequest) (store.TakeHome, error)) *site {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	s := &site{t: t, st: st}
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "Idempotent payments"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.token, err = st.AddReviewer(ctx, "rita"); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: 1, RepoID: 1, Owner: "org", Name: "pay-lea", Challenge: "idempotent-payments", User: "lea"})
	if err != nil {
		t.Fatal(err)
	}
	s.runID = s.completed(a.ID, "a", "lea", time.Now(), verdict(33))

	past := time.Now().Add(time.Hour)
	s.closed, err = st.CreateTakeHome(ctx, store.TakeHome{Assignment: store.Assignment{InstallationID: 1, RepoID: 2, Owner: "org",
		Name: "pay-carol-takehome", Challenge: "idempotent-payments", User: "carol", Deadline: &past}, InvitedBy: "rita", InvitationSHA: strings.Repeat("0", 40)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(-time.Minute).Truncate(time.Second)
	if _, err := st.Pool.Exec(ctx, `UPDATE assignments SET deadline=$2 WHERE id=$1`, s.closed.ID, deadline); err != nil {
		t.Fatal(err)
	}
	s.completed(s.closed.ID, "b", "carol", deadline.Add(-90*time.Minute), verdict(33))
	s.completed(s.closed.ID, "c", "carol", deadline.Add(-30*time.Minute), verdict(66))
	s.completed(s.closed.ID, "d", "carol", deadline.Add(time.Minute), verdict(0)) // after the deadline
	if th, err := st.FreezeTakeHome(ctx, s.closed.ID); err != nil || th.FinalSHA != strings.Repeat("c", 40) {
		t.Fatalf("freeze: %+v %v", th, err)
	}
	if err := st.MarkAccessRevoked(ctx, s.closed.ID); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) (err error) {
		if s.finalID, _, err = store.QueueFinalRun(ctx, tx, s.closed.ID); err != nil {
			return err
		}
		_, err = store.CompleteFinalRun(ctx, tx, s.closed.ID, s.finalID, verdict(66))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.closed, err = st.TakeHome(ctx, s.closed.ID); err != nil {
		t.Fatal(err)
	}

	later := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	s.open, err = st.CreateTakeHome(ctx, store.TakeHome{Assignment: store.Assignment{InstallationID: 1, RepoID: 3, Owner: "org",
		Name: "pay-erin-takehome", Challenge: "idempotent-payments", User: "erin", Deadline: &later}, InvitedBy: "rita"})
	if err != nil {
		t.Fatal(err)
	}
	reviewers := &web.Web{Store: st, Invite: invite, Log: slog.New(slog.DiscardHandler)}
	s.srv = httptest.NewServer(Routes(http.NotFoundHandler(), st, http.NotFoundHandler(), reviewers))
	t.Cleanup(s.srv.Close)
	return s
}

// completed records a push of commit c received at `at`, graded with v.
func (s *site) completed(assignment int64, c, pusher string, at time.Time, v grading.Verdict) int64 {
	ctx := context.Background()
	var runID int64
	err := pgx.BeginFunc(ctx, s.st.Pool, func(tx pgx.Tx) (err error) {
		runID, _, err = store.CreateRun(ctx, tx, store.Submission{AssignmentID: assignment, SHA: strings.Repeat(c, 40), Ref: "refs/heads/main",
			Branch: "main", Pusher: pusher, DeliveryID: c + at.String()})
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `UPDATE submissions SET created_at=$2 WHERE id=(SELECT submission_id FROM runs WHERE id=$1)`, runID, at); err != nil {
			return err
		}
		_, err = store.CompleteRun(ctx, tx, runID, v)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return runID
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, base: s.srv.URL, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", page)
	}
	return m[1]
}

// signIn signs b in with token and returns the session's CSRF token.
func (b *browser) signIn(token string) string {
	b.t.Helper()
	_, page := b.do("GET", "/login?next=/reviewer/takehomes", nil)
	resp, _ := b.do("POST", "/login", url.Values{"csrf": {csrfOf(b.t, page)}, "token": {token}, "next": {"/reviewer/takehomes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reviewer/takehomes" {
		b.t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = b.do("GET", "/reviewer/takehomes", nil)
	return csrfOf(b.t, page)
}

func TestReviewerSignIn(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	anon := s.browser()
	for _, path := range []string{"/reviewer/", "/reviewer/takehomes", "/reviewer/runs/1", "/reviewer/takehomes.csv", "/reviewer/runs/1/results.json"} {
		resp, _ := anon.do("GET", path, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Fatalf("GET %s without a session: %d to %q; want a redirect to /login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, page := anon.do("GET", "/login", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="token"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("login page: %d %v", resp.StatusCode, resp.Header)
	}
	csrf := csrfOf(t, page)
	if resp, _ := anon.do("POST", "/login", url.Values{"token": {s.token}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d; want 403", resp.StatusCode)
	}
	_, page = anon.do("GET", "/login", nil)
	csrf = csrfOf(t, page)
	if resp, body := anon.do("POST", "/login", url.Values{"csrf": {csrf}, "token": {"hfr_" + strings.Repeat("x", 43)}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not a reviewer") {
		t.Fatalf("wrong token: %d; want 401", resp.StatusCode)
	}
	_, page = anon.do("GET", "/login", nil)
	resp, _ = anon.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {s.token}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reviewer/" {
		t.Fatalf("sign-in with a foreign next: %d to %q; want /reviewer/", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || len(session.Value) < 40 {
		t.Fatalf("session cookie %+v; want HttpOnly, SameSite=Strict, Path=/", session)
	}
	var stored int
	if err := s.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM reviewer_sessions WHERE id_hash = convert_to($1, 'UTF8')`, session.Value).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the session id is stored in clear")
	}
	if resp, _ := anon.do("GET", "/reviewer/", nil); resp.StatusCode != 200 {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	_, page = anon.do("GET", "/reviewer/", nil)
	if resp, _ := anon.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := anon.do("GET", "/reviewer/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d; want a redirect to /login", resp.StatusCode)
	}
	// A stolen cookie value is dead after sign-out too.
	if _, err := s.st.SessionByID(context.Background(), session.Value); err == nil {
		t.Fatal("the session survived sign-out")
	}
}

func TestReviewerPages(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	b := s.browser()
	b.signIn(s.token)
	get := func(path string, want ...string) string {
		t.Helper()
		resp, body := b.do("GET", path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s does not show %q", path, w)
			}
		}
		return body
	}
	get("/reviewer/", "idempotent-payments", "Idempotent payments", "/reviewer/challenges/idempotent-payments")
	get("/reviewer/challenges/idempotent-payments", "org/pay-lea", "org/pay-carol-takehome", ">final<", "/reviewer/runs/"+itoa(s.runID))
	get("/reviewer/runs/"+itoa(s.runID), "secret_one", "reviewer_note", "exactly one charge", "two charges", "use the key",
		"app: secret trace", "app: whole-run output", "1.2s", "hidden", "reviewer-only")
	get("/reviewer/assignments/"+itoa(s.closed.ID), "<svg", "final", "full report and timeline")
	get("/reviewer/takehomes", "@carol", "@erin", "done", "66", "/reviewer/takehomes/"+itoa(s.open.ID)+"/extend", ">Extend<")
	report := get("/reviewer/takehomes/"+itoa(s.closed.ID), "Commit timeline", "after the deadline", "invited by", strings.Repeat("c", 40),
		"Time spent, first to last push before the deadline: <strong>1h0m0s</strong> (2 pushes", "secret_one", "push access removed")
	if strings.Count(report, ">final<") != 1 {
		t.Errorf("the timeline must mark exactly one push as final")
	}

	resp, body := b.do("GET", "/reviewer/runs/"+itoa(s.finalID)+"/results.json", nil)
	var res struct {
		Run     store.RunRow    `json:"run"`
		Verdict grading.Verdict `json:"verdict"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &res) != nil || !res.Run.Final || len(res.Verdict.Scenarios) != 3 ||
		res.Verdict.Scenarios[1].Failure == nil || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("results file: %d %s", resp.StatusCode, body)
	}

	resp, body = b.do("GET", "/reviewer/takehomes.csv", nil)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(rows) != 3 || rows[0][1] != "candidate" {
		t.Fatalf("CSV: %d %v\n%s", resp.StatusCode, err, body)
	}
	carol := rows[1]
	if rows[2][1] == "carol" {
		carol = rows[2]
	}
	if carol[1] != "carol" || carol[9] != "66" || carol[6] != strings.Repeat("c", 40) || carol[10] != "2" || carol[11] != "3600" {
		t.Fatalf("carol's CSV row: %q", carol)
	}

	// What a candidate sees of the same runs: the learner view, without the hidden and
	// reviewer-only scenarios' details.
	for _, id := range []int64{s.runID, s.finalID} {
		token, err := s.st.ReportToken(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := s.browser().do("GET", "/runs/"+token, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "visible_one") {
			t.Fatalf("learner view: %d %s", resp.StatusCode, body)
		}
		for _, secret := range []string{"secret_one", "reviewer_note", "exactly one charge", "secret trace", "whole-run output"} {
			if strings.Contains(body, secret) {
				t.Fatalf("the learner view of run %d shows %q:\n%s", id, secret, body)
			}
		}
	}
}

func TestExtensionForm(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	b := s.browser()
	csrf := b.signIn(s.token)
	path := "/reviewer/takehomes/" + itoa(s.open.ID) + "/extend"
	if resp, _ := b.do("POST", path, url.Values{"add": {"24h"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("extension without the CSRF token: %d; want 403", resp.StatusCode)
	}
	if resp, _ := b.do("POST", path, url.Values{"add": {"24h"}, "csrf": {csrf}}, "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("extension posted from another origin: %d; want 403", resp.StatusCode)
	}
	if resp, body := b.do("POST", path, url.Values{"add": {"soon"}, "csrf": {csrf}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "positive duration") {
		t.Fatalf("bad duration: %d", resp.StatusCode)
	}
	resp, _ := b.do("POST", path, url.Values{"add": {"24h"}, "csrf": {csrf}}, "Origin", s.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("extension: %d", resp.StatusCode)
	}
	th, _ := s.st.TakeHome(context.Background(), s.open.ID)
	if want := s.open.Deadline.Add(24 * time.Hour); !th.Deadline.Equal(want) {
		t.Fatalf("deadline %v; want %v", th.Deadline, want)
	}
	exts, _ := s.st.Extensions(context.Background(), s.open.ID)
	if len(exts) != 1 || exts[0].By != "rita" {
		t.Fatalf("extensions %+v; want one by rita", exts)
	}
	resp, body := b.do("POST", "/reviewer/takehomes/"+itoa(s.closed.ID)+"/extend", url.Values{"add": {"24h"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "deadline has already passed") {
		t.Fatalf("extending a passed deadline: %d\n%s", resp.StatusCode, body)
	}
	// Someone without a session gets nothing done, whatever they post.
	if resp, _ := s.browser().do("POST", path, url.Values{"add": {"24h"}, "csrf": {csrf}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("extension without a session: %d; want 401", resp.StatusCode)
	}
}

func TestTakeHomeAPI(t *testing.T) {
	t.Parallel()
	fake := githubtest.New(t)
	fake.AddInstallation(9, "org")
	var prov *repos.Provisioner
	s := newSite(t, func(ctx context.Context, r repos.InviteRequest) (store.TakeHome, error) {
		return prov.Invite(ctx, r)
	})
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	prov = &repos.Provisioner{Store: s.st, GitHub: app, Installation: 9, Org: "org", Templates: os.DirFS("../../templates"), Challenges: []string{"idempotent-payments"}}
	if _, err := prov.PublishTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	post := func(path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	body := `{"challenge":"idempotent-payments","candidate":"zoe","duration":"72h","seed":7}`
	if code, _ := post("/api/takehomes", "", body); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := post("/api/takehomes", "hfr_"+strings.Repeat("n", 43), body); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, out := post("/api/takehomes", s.token, `{"challenge":"idempotent-payments","candidate":"zoe"}`); code != 422 || !strings.Contains(out["error"].(string), "duration") {
		t.Fatalf("no deadline: %d %v", code, out)
	}
	code, out := post("/api/takehomes", s.token, body)
	if code != 201 || out["repo"] != "org/idempotent-payments-zoe-takehome" || out["invited_by"] != "rita" || out["seed"] != 7.0 {
		t.Fatalf("invite: %d %v", code, out)
	}
	if perm := fake.Collaborators("org", "idempotent-payments-zoe-takehome")["zoe"]; perm != "push" {
		t.Fatalf("zoe's permission %q", perm)
	}
	id := itoa(int64(out["id"].(float64)))
	if code, out := post("/api/takehomes/"+id+"/extensions", s.token, `{"add":"2h"}`); code != 200 || out["extended_by"] != "rita" {
		t.Fatalf("extend: %d %v", code, out)
	}
	if code, out := post("/api/takehomes/"+itoa(s.closed.ID)+"/extensions", s.token, `{"add":"2h"}`); code != 409 || !strings.Contains(out["error"].(string), "already passed") {
		t.Fatalf("extend after the deadline: %d %v; want 409", code, out)
	}
	if code, _ := post("/api/takehomes/999999/extensions", s.token, `{"add":"2h"}`); code != 404 {
		t.Fatalf("unknown take-home: %d", code)
	}
}

func TestReviewerCLI(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	ctx := context.Background()
	var out strings.Builder
	if err := reviewer(ctx, s.st, []string{"add", "sam"}, &out); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:])
	if r, err := s.st.ReviewerByToken(ctx, token); err != nil || r.Login != "sam" {
		t.Fatalf("printed token %q: %v", token, err)
	}
	env := func(string) string { return "" }
	out.Reset()
	if err := extend(ctx, s.st, []string{"--repo", "org/pay-erin-takehome", "--add", "3h", "--by", "sam"}, env, &out, io.Discard); err != nil || !strings.Contains(out.String(), "by sam") {
		t.Fatalf("extend: %v %q", err, out.String())
	}
	err := extend(ctx, s.st, []string{"--takehome", itoa(s.closed.ID), "--add", "3h"}, env, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "deadline has already passed") {
		t.Fatalf("extend after the deadline: %v", err)
	}
	if err := extend(ctx, s.st, []string{"--add", "3h"}, env, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "--takehome") {
		t.Fatalf("extend without a take-home: %v", err)
	}
}

// TestRunPageShowsTimeline: a reviewer's page of a run shows a failed public scenario's timeline
// as text, escaped (the app wrote its answer); the page a candidate reads shows it too. A hidden
// or reviewer-only scenario's timeline, were one ever stored, shows on neither.
func TestRunPageShowsTimeline(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	b, err := os.ReadFile("../testdata/timeline/graceful-shutdown.in_flight_requests_complete.json")
	if err != nil {
		t.Fatal(err)
	}
	var recorded scenarios.Timeline
	if err := json.Unmarshal(b, &recorded); err != nil {
		t.Fatal(err)
	}
	recorded.Events = append(recorded.Events, agent.Event{At: 600 * time.Millisecond, End: 610 * time.Millisecond, Kind: agent.EventRequest,
		From: "harness", To: "app", What: "GET /readyz", Status: 503, Answer: `<script>alert("app")</script>`})
	secret := func(what string) *scenarios.Timeline {
		return &scenarios.Timeline{Events: []agent.Event{{Kind: agent.EventRequest, From: "harness", To: "app", What: what, At: time.Millisecond}}}
	}
	failure := &scenarios.Failure{Expected: "201 for each transfer in flight", Actual: "no HTTP answer (EOF)"}
	v := grading.Verdict{Challenge: "idempotent-payments", Status: grading.Failed, Score: 40, Scenarios: []grading.ScenarioResult{
		{Slug: "in_flight_requests_complete", Title: "In flight", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: failure, Timeline: &recorded},
		{Slug: "secret_drain", Title: "Hidden", Visibility: scenarios.Hidden, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: failure, Timeline: secret("GET /hidden-probe")},
		{Slug: "reviewer_drain", Title: "Reviewer-only", Visibility: scenarios.ReviewerOnly, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: failure, Timeline: secret("GET /reviewer-probe")},
	}}
	a, err := s.st.CreateAssignment(context.Background(), store.Assignment{InstallationID: 1, RepoID: 9, Owner: "org", Name: "gs-lea",
		Challenge: "idempotent-payments", User: "lea"})
	if err != nil {
		t.Fatal(err)
	}
	id := s.completed(a.ID, "e", "lea", time.Now(), v)
	shown := []string{
		"what happened during in_flight_requests_complete",
		"+500ms  harness → app   SIGTERM",
		"+549ms  harness ✕ app   no answer — EOF",
		`POST /api/transfers {"id":"gs-1","work_ms":3000`,
		`+610ms  harness ← app   503 — <script>alert("app")</script>`,
	}
	never := []string{"/hidden-probe", "/reviewer-probe", "what happened during secret_drain", "what happened during reviewer_drain"}

	rb := s.browser()
	rb.signIn(s.token)
	resp, page := rb.do("GET", "/reviewer/runs/"+itoa(id), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reviewer page: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range shown {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the reviewer's page does not show %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;alert(&#34;app&#34;)&lt;/script&gt;") {
		t.Errorf("the reviewer's page does not escape what the app answered:\n%s", page)
	}
	for _, secret := range never {
		if strings.Contains(page, secret) {
			t.Errorf("the reviewer's page shows %q: only failed public scenarios have a timeline", secret)
		}
	}

	token, err := s.st.ReportToken(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	resp, report := s.browser().do("GET", "/runs/"+token, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("candidate's page: %d\n%s", resp.StatusCode, report)
	}
	for _, want := range shown {
		if !strings.Contains(report, want) {
			t.Errorf("the candidate's page does not show %q:\n%s", want, report)
		}
	}
	for _, secret := range never {
		if strings.Contains(report, secret) {
			t.Errorf("the candidate's page shows %q:\n%s", secret, report)
		}
	}
}
