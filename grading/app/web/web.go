package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/scenarios"
)

//go:embed assets
var webFS embed.FS

// RiverUIPrefix is where River's job dashboard is mounted.
const RiverUIPrefix = "/riverui"

// Cookie names. The session cookie is HttpOnly and SameSite=Strict: a page on another site can
// neither read it nor make the browser send it.
const (
	SessionCookie = "hf_session"
	loginCookie   = "hf_login" // the sign-in form's CSRF token (double submit)
	sessionTTL    = 12 * time.Hour
)

// Web is the reviewers' side of the App: sign-in, server-rendered pages, exports and the
// take-home API. Every page and call needs a reviewer; candidates only ever see the learner
// view of their runs (GET /runs/{id}).
type Web struct {
	Store *store.Store
	// Invite creates a take-home; nil when the App has no organisation configured.
	Invite func(context.Context, repos.InviteRequest) (store.TakeHome, error)
	// Secure marks cookies Secure (the App is served over HTTPS).
	Secure bool
	// RiverUI is River's job dashboard, served to reviewers under /riverui/; nil serves none.
	RiverUI http.Handler
	Log     *slog.Logger

	tmpl *template.Template
}

var funcs = template.FuncMap{
	"inc":   func(i int) int { return i + 1 }, // scenario numbers count from 1, as in the CLI
	"short": func(s string) string { return short(s) },
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"ms": func(m grading.Millis) string { return time.Duration(m).Round(time.Millisecond).String() },
	"score": func(p *int) string {
		if p == nil {
			return "—"
		}
		return strconv.Itoa(*p)
	},
	"lines": func(s string) []string {
		s = strings.TrimRight(s, "\n")
		if s == "" {
			return nil
		}
		ls := strings.Split(s, "\n")
		if len(ls) > 60 {
			ls = ls[len(ls)-60:]
		}
		return ls
	},
	"rfc3339": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"isHidden": func(v scenarios.Visibility) bool { return v != scenarios.Public },
	// timeline is a failed public scenario's timeline as text: no Mermaid script is served here
	// (the page loads nothing from elsewhere), and the text reads the same as in the CLI.
	"timeline": func(tl *scenarios.Timeline) []string { return grading.TimelineText(tl) },
}

func (w *Web) init() error {
	if w.tmpl != nil {
		return nil
	}
	t, err := template.New("").Funcs(funcs).ParseFS(webFS, "assets/*.html")
	if err != nil {
		return fmt.Errorf("reviewer page templates: %w", err)
	}
	w.tmpl = t
	return nil
}

// Register adds the reviewers' routes to mux.
func (w *Web) Register(mux *http.ServeMux) {
	if err := w.init(); err != nil {
		panic(err) // embedded templates: every test run parses them
	}
	mux.HandleFunc("GET /static/holdfast.css", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/css; charset=utf-8")
		rw.Header().Set("Cache-Control", "max-age=3600")
		b, _ := webFS.ReadFile("assets/holdfast.css")
		_, _ = rw.Write(b)
	})
	mux.HandleFunc("GET /login", w.loginPage)
	mux.HandleFunc("POST /login", w.login)
	mux.HandleFunc("POST /logout", w.form(w.logout))
	mux.HandleFunc("GET /reviewer", func(rw http.ResponseWriter, r *http.Request) { http.Redirect(rw, r, "/reviewer/", http.StatusSeeOther) })
	mux.HandleFunc("GET /reviewer/{$}", w.page(w.challenges))
	mux.HandleFunc("GET /reviewer/challenges/{slug}", w.page(w.challengeRuns))
	mux.HandleFunc("GET /reviewer/runs/{id}", w.page(w.runReport))
	mux.HandleFunc("GET /reviewer/runs/{id}/results.json", w.page(w.runJSON))
	mux.HandleFunc("GET /reviewer/assignments/{id}", w.page(w.history))
	mux.HandleFunc("GET /reviewer/takehomes", w.page(w.dashboard))
	mux.HandleFunc("GET /reviewer/takehomes.csv", w.page(w.scoresCSV))
	mux.HandleFunc("GET /reviewer/takehomes/{id}", w.page(w.takeHomeReport))
	mux.HandleFunc("POST /reviewer/takehomes/{id}/extend", w.form(w.extendForm))
	mux.HandleFunc("POST /api/takehomes", w.api(w.apiInvite))
	mux.HandleFunc("POST /api/takehomes/{id}/extensions", w.api(w.apiExtend))
	if w.RiverUI != nil {
		mux.Handle(RiverUIPrefix+"/", w.reviewerOnly(w.RiverUI))
	}
}

// secureHeaders keeps the pages self-contained: no scripts at all, styles and forms only from
// the App itself, never framed.
func secureHeaders(rw http.ResponseWriter) {
	h := rw.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// request is what a reviewer's handler receives.
type request struct {
	*http.Request
	Session store.Session
}

// session returns the signed-in reviewer's session, or ErrNotFound.
func (w *Web) session(r *http.Request) (store.Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return store.Session{}, store.ErrNotFound
	}
	return w.Store.SessionByID(r.Context(), c.Value)
}

// page wraps a GET handler: a visitor without a reviewer session is sent to sign in.
func (w *Web) page(h func(http.ResponseWriter, *request) error) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		secureHeaders(rw)
		sess, err := w.session(r)
		if errors.Is(err, store.ErrNotFound) {
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err != nil {
			w.fail(rw, err)
			return
		}
		if err := h(rw, &request{Request: r, Session: sess}); err != nil {
			w.fail(rw, err)
		}
	}
}

// form wraps a POST handler of a page: a reviewer session, a same-origin request and the
// session's CSRF token are all required.
func (w *Web) form(h func(http.ResponseWriter, *request) error) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		secureHeaders(rw)
		sess, err := w.session(r)
		if errors.Is(err, store.ErrNotFound) {
			w.status(rw, http.StatusUnauthorized, "Sign in first", "This form needs a reviewer session; sign in and try again.")
			return
		}
		if err != nil {
			w.fail(rw, err)
			return
		}
		r.Body = http.MaxBytesReader(rw, r.Body, 1<<16)
		if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
			w.status(rw, http.StatusForbidden, "Form expired", "The form did not carry this session's token (an old tab, or another site posting it). Reload the page and submit again.")
			return
		}
		if err := h(rw, &request{Request: r, Session: sess}); err != nil {
			w.fail(rw, err)
		}
	}
}

// sameOrigin refuses a browser request that says it comes from another origin. Browsers send
// Origin on POST; tools that send none are judged by the CSRF token alone.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (w *Web) render(rw http.ResponseWriter, code int, name string, data map[string]any) error {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	if err := w.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	rw.WriteHeader(code)
	_, err := io.WriteString(rw, b.String())
	return err
}

func (w *Web) status(rw http.ResponseWriter, code int, title, msg string) {
	secureHeaders(rw)
	_ = w.render(rw, code, "status.html", map[string]any{"Title": title, "Message": msg})
}

func (w *Web) fail(rw http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		w.status(rw, http.StatusNotFound, "Not found", "There is nothing here: the link may be wrong, or the run has no result yet.")
		return
	}
	w.Log.Error("reviewer page", "err", err)
	w.status(rw, http.StatusInternalServerError, "Something went wrong", "Holdfast could not show this page. Try again; if it persists, the operator's logs say why.")
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	secureHeaders(rw)
	w.loginForm(rw, r, http.StatusOK, "")
}

func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request, code int, msg string) {
	token := secretToken()
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: token, Path: "/login", HttpOnly: true, Secure: w.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	_ = w.render(rw, code, "login.html", map[string]any{"Title": "Sign in", "CSRF": token, "Next": safeNext(r.FormValue("next")), "Error": msg})
}

// safeNext keeps a post-sign-in redirect on the reviewer pages of this App.
func safeNext(next string) string {
	if (strings.HasPrefix(next, "/reviewer/") || strings.HasPrefix(next, RiverUIPrefix+"/")) && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/reviewer/"
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	secureHeaders(rw)
	r.Body = http.MaxBytesReader(rw, r.Body, 1<<14)
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 || !sameOrigin(r) {
		w.loginForm(rw, r, http.StatusForbidden, "The sign-in form expired. Enter your token again.")
		return
	}
	rev, err := w.Store.ReviewerByToken(r.Context(), strings.TrimSpace(r.PostFormValue("token")))
	if errors.Is(err, store.ErrNotFound) {
		w.Log.Warn("sign-in refused", "remote", r.RemoteAddr)
		w.loginForm(rw, r, http.StatusUnauthorized, "That token is not a reviewer's. Reviewer tokens come from `app reviewer add LOGIN`.")
		return
	}
	if err != nil {
		w.fail(rw, err)
		return
	}
	id, _, err := w.Store.CreateSession(r.Context(), rev.ID, sessionTTL)
	if err != nil {
		w.fail(rw, err)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: w.Secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(rw, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: w.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	w.Log.Info("reviewer signed in", "reviewer", rev.Login)
	http.Redirect(rw, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := w.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(rw, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: w.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(rw, r.Request, "/login", http.StatusSeeOther)
	return nil
}

func (w *Web) data(r *request, title string) map[string]any {
	return map[string]any{"Title": title, "Reviewer": r.Session.Reviewer.Login, "CSRF": r.Session.CSRF}
}

func pathID(r *request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, store.ErrNotFound
	}
	return id, nil
}

func (w *Web) challenges(rw http.ResponseWriter, r *request) error {
	cs, err := w.Store.ChallengeSummaries(r.Context())
	if err != nil {
		return err
	}
	d := w.data(r, "Challenges")
	d["Challenges"] = cs
	return w.render(rw, http.StatusOK, "challenges.html", d)
}

func (w *Web) challengeRuns(rw http.ResponseWriter, r *request) error {
	slug := r.PathValue("slug")
	runs, err := w.Store.ChallengeRuns(r.Context(), slug, 500)
	if err != nil {
		return err
	}
	d := w.data(r, "Submissions · "+slug)
	d["Slug"], d["Runs"] = slug, runs
	return w.render(rw, http.StatusOK, "submissions.html", d)
}

func (w *Web) runReport(rw http.ResponseWriter, r *request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	row, err := w.Store.GetRunRow(r.Context(), id)
	if err != nil {
		return err
	}
	d := w.data(r, fmt.Sprintf("Run %d · %s/%s", id, row.Owner, row.Name))
	d["Run"] = row
	if v, err := w.Store.RunVerdict(r.Context(), id); err == nil {
		d["Verdict"] = v
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return w.render(rw, http.StatusOK, "run.html", d)
}

// Results is the JSON results file of one submission: the run and its complete verdict.
type Results struct {
	Run     store.RunRow    `json:"run"`
	Verdict grading.Verdict `json:"verdict"`
}

func (w *Web) runJSON(rw http.ResponseWriter, r *request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	row, err := w.Store.GetRunRow(r.Context(), id)
	if err != nil {
		return err
	}
	v, err := w.Store.RunVerdict(r.Context(), id)
	if err != nil {
		return err
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="holdfast-run-%d.json"`, id))
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	return enc.Encode(Results{Run: row, Verdict: v})
}

// point is one bar of a score history chart.
type point struct {
	X, Y, H int
	Run     store.RunRow
}

func (w *Web) history(rw http.ResponseWriter, r *request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a, err := w.Store.GetAssignment(r.Context(), id)
	if err != nil {
		return err
	}
	runs, err := w.Store.AssignmentRuns(r.Context(), id)
	if err != nil {
		return err
	}
	var pts []point
	for _, run := range runs {
		if run.Score == nil {
			continue
		}
		h := max(*run.Score, 1)
		pts = append(pts, point{X: 10 + len(pts)*14, Y: 110 - h, H: h, Run: run})
	}
	d := w.data(r, fmt.Sprintf("Score history · %s/%s", a.Owner, a.Name))
	d["Assignment"], d["Runs"], d["Points"], d["Width"] = a, runs, pts, 20+len(pts)*14
	if th, err := w.Store.TakeHome(r.Context(), id); err == nil {
		d["TakeHome"] = th
	}
	return w.render(rw, http.StatusOK, "history.html", d)
}

// takeHomeRow is a take-home as the dashboard shows it.
type takeHomeRow struct {
	store.TakeHome
	Passed     bool
	Extensions int
}

func (w *Web) dashboard(rw http.ResponseWriter, r *request) error {
	ths, err := w.Store.TakeHomes(r.Context())
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []takeHomeRow
	for _, th := range ths {
		exts, err := w.Store.Extensions(r.Context(), th.ID)
		if err != nil {
			return err
		}
		rows = append(rows, takeHomeRow{TakeHome: th, Passed: !th.Deadline.After(now), Extensions: len(exts)})
	}
	d := w.data(r, "Take-homes")
	d["TakeHomes"], d["Extended"] = rows, r.URL.Query().Get("extended")
	return w.render(rw, http.StatusOK, "takehomes.html", d)
}

func (w *Web) takeHomeReport(rw http.ResponseWriter, r *request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	th, err := w.Store.TakeHome(r.Context(), id)
	if err != nil {
		return err
	}
	pushes, err := w.Store.Pushes(r.Context(), id)
	if err != nil {
		return err
	}
	exts, err := w.Store.Extensions(r.Context(), id)
	if err != nil {
		return err
	}
	d := w.data(r, fmt.Sprintf("Take-home · @%s · %s", th.User, th.Challenge))
	d["TakeHome"], d["Pushes"], d["Extensions"] = th, store.Timeline(th, pushes), exts
	d["Spent"] = store.TimeSpent(th, pushes)
	d["Passed"] = !th.Deadline.After(time.Now())
	if th.FinalRunID != nil {
		if v, err := w.Store.RunVerdict(r.Context(), *th.FinalRunID); err == nil {
			d["Verdict"] = v
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return w.render(rw, http.StatusOK, "takehome.html", d)
}

func (w *Web) scoresCSV(rw http.ResponseWriter, r *request) error {
	ths, err := w.Store.TakeHomes(r.Context())
	if err != nil {
		return err
	}
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="holdfast-final-scores.csv"`)
	cw := csv.NewWriter(rw)
	_ = cw.Write([]string{"takehome_id", "candidate", "challenge", "repository", "deadline", "state", "final_commit",
		"final_pushed_at", "final_status", "final_score", "pushes", "time_spent_seconds", "extensions", "invited_by"})
	for _, th := range ths {
		pushes, err := w.Store.Pushes(r.Context(), th.ID)
		if err != nil {
			return err
		}
		exts, err := w.Store.Extensions(r.Context(), th.ID)
		if err != nil {
			return err
		}
		spent, score := "", ""
		if s := store.TimeSpent(th, pushes); s.Pushes > 0 {
			spent = strconv.FormatInt(int64(s.Spent.Seconds()), 10)
		}
		if th.FinalScore != nil {
			score = strconv.Itoa(*th.FinalScore)
		}
		pushedAt := ""
		if th.FinalPushedAt != nil {
			pushedAt = th.FinalPushedAt.UTC().Format(time.RFC3339)
		}
		_ = cw.Write([]string{strconv.FormatInt(th.ID, 10), csvSafe(th.User), th.Challenge, th.Owner + "/" + th.Name,
			th.Deadline.UTC().Format(time.RFC3339), th.State, th.FinalSHA, pushedAt, th.FinalStatus, score,
			strconv.Itoa(store.TimeSpent(th, pushes).Pushes), spent, strconv.Itoa(len(exts)), csvSafe(th.InvitedBy)})
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses a cell a spreadsheet would run as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (w *Web) extendForm(rw http.ResponseWriter, r *request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	th, err := w.Store.TakeHome(r.Context(), id)
	if err != nil {
		return err
	}
	to, err := repos.ExtendedDeadline(*th.Deadline, r.PostFormValue("deadline"), r.PostFormValue("add"))
	if err != nil {
		w.status(rw, http.StatusUnprocessableEntity, "Extension not recorded", err.Error()+".")
		return nil
	}
	_, err = w.Store.ExtendDeadline(r.Context(), id, r.Session.Reviewer.Login, to)
	switch {
	case errors.Is(err, store.ErrDeadlinePassed):
		w.status(rw, http.StatusConflict, "Deadline passed", err.Error()+". The final grade comes from the last push before it.")
		return nil
	case errors.Is(err, store.ErrInvalid):
		w.status(rw, http.StatusUnprocessableEntity, "Extension not recorded", err.Error()+".")
		return nil
	case err != nil:
		return err
	}
	w.Log.Info("deadline extended", "assignment_id", id, "by", r.Session.Reviewer.Login, "to", to)
	http.Redirect(rw, r.Request, "/reviewer/takehomes?extended="+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}

// api wraps a JSON endpoint of the reviewer API: Authorization: Bearer <reviewer token>.
func (w *Web) api(h func(http.ResponseWriter, *http.Request, store.Reviewer) (int, any)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		reply := func(code int, v any) {
			rw.WriteHeader(code)
			_ = json.NewEncoder(rw).Encode(v)
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		rev, err := w.Store.ReviewerByToken(r.Context(), token)
		if !ok || errors.Is(err, store.ErrNotFound) {
			reply(http.StatusUnauthorized, map[string]string{"error": "a reviewer token is required: Authorization: Bearer <token from `app reviewer add`>"})
			return
		}
		if err != nil {
			w.Log.Error("reviewer api", "err", err)
			reply(http.StatusInternalServerError, map[string]string{"error": "could not check the token"})
			return
		}
		r.Body = http.MaxBytesReader(rw, r.Body, 1<<16)
		reply(h(rw, r, rev))
	}
}

func errBody(err error) map[string]string { return map[string]string{"error": err.Error()} }

// InviteBody is POST /api/takehomes' body.
type InviteBody struct {
	Challenge string `json:"challenge"`
	Candidate string `json:"candidate"`
	Deadline  string `json:"deadline"` // RFC 3339; or
	Duration  string `json:"duration"` // from now, e.g. 72h
	Language  string `json:"language"`
	Seed      *int64 `json:"seed"`
}

func (w *Web) apiInvite(_ http.ResponseWriter, r *http.Request, rev store.Reviewer) (int, any) {
	if w.Invite == nil {
		return http.StatusNotFound, map[string]string{"error": "take-homes are disabled: set HOLDFAST_ORG and HOLDFAST_INSTALLATION_ID"}
	}
	var b InviteBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "body must be JSON {challenge, candidate, deadline | duration, language, seed}: " + err.Error()}
	}
	deadline, err := repos.InviteDeadline(time.Now(), b.Deadline, b.Duration)
	if err != nil {
		return http.StatusUnprocessableEntity, errBody(err)
	}
	th, err := w.Invite(r.Context(), repos.InviteRequest{Challenge: b.Challenge, Candidate: b.Candidate, Deadline: deadline,
		Language: b.Language, Seed: b.Seed, InvitedBy: rev.Login})
	switch {
	case errors.Is(err, repos.ErrInvalid):
		return http.StatusUnprocessableEntity, errBody(err)
	case err != nil:
		w.Log.Error("invite", "err", err)
		return http.StatusBadGateway, errBody(err)
	}
	return http.StatusCreated, takeHomeJSON(th)
}

func takeHomeJSON(th store.TakeHome) map[string]any {
	return map[string]any{"id": th.ID, "repo": th.Owner + "/" + th.Name, "candidate": th.User, "challenge": th.Challenge,
		"deadline": th.Deadline, "state": th.State, "seed": th.Seed, "invited_by": th.InvitedBy}
}

// ExtendBody is POST /api/takehomes/{id}/extensions' body.
type ExtendBody struct {
	Deadline string `json:"deadline"` // RFC 3339; or
	Add      string `json:"add"`      // added to the current deadline, e.g. 24h
}

func (w *Web) apiExtend(_ http.ResponseWriter, r *http.Request, rev store.Reviewer) (int, any) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return http.StatusNotFound, map[string]string{"error": "no such take-home"}
	}
	var b ExtendBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "body must be JSON {deadline} or {add}: " + err.Error()}
	}
	th, err := w.Store.TakeHome(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return http.StatusNotFound, map[string]string{"error": "no such take-home"}
	}
	if err != nil {
		return http.StatusInternalServerError, map[string]string{"error": "could not read the take-home"}
	}
	to, err := repos.ExtendedDeadline(*th.Deadline, b.Deadline, b.Add)
	if err != nil {
		return http.StatusUnprocessableEntity, errBody(err)
	}
	ext, err := w.Store.ExtendDeadline(r.Context(), id, rev.Login, to)
	switch {
	case errors.Is(err, store.ErrDeadlinePassed):
		return http.StatusConflict, errBody(err)
	case errors.Is(err, store.ErrInvalid):
		return http.StatusUnprocessableEntity, errBody(err)
	case err != nil:
		w.Log.Error("extend", "err", err)
		return http.StatusInternalServerError, map[string]string{"error": "could not record the extension"}
	}
	return http.StatusOK, map[string]any{"id": id, "old_deadline": ext.Old, "new_deadline": ext.New, "extended_by": ext.By, "extended_at": ext.At}
}

// secretToken is a random token for a form.
func secretToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// reviewerOnly lets only signed-in reviewers through to h (River's dashboard, a single-page app
// with its own JSON API). A visitor without a session is treated as on every reviewer page: a
// page load is sent to sign in, an API call is refused. Calls that change something (retry,
// cancel, delete a job) must also come from this origin; the session cookie is SameSite=Strict,
// so another site cannot make a browser send it anyway.
func (w *Web) reviewerOnly(h http.Handler) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		_, err := w.session(r)
		switch {
		case errors.Is(err, store.ErrNotFound) && safe && !strings.HasPrefix(r.URL.Path, RiverUIPrefix+"/api/"):
			secureHeaders(rw)
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case errors.Is(err, store.ErrNotFound):
			w.status(rw, http.StatusUnauthorized, "Sign in first", "River's dashboard is for reviewers; sign in and try again.")
			return
		case err != nil:
			w.fail(rw, err)
			return
		case !safe && !sameOrigin(r):
			w.status(rw, http.StatusForbidden, "Refused", "This change did not come from Holdfast's own pages. Reload the dashboard and try again.")
			return
		}
		// The dashboard runs its own scripts, so the reviewer pages' no-script policy does not
		// apply; it is still never framed.
		rw.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(rw, r)
	}
}
