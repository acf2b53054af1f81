package githubtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"
)

// spyTB records the failures the fake reports instead of failing the test, so a test can
// check that a bad request is caught. Everything else goes to the real test.
type spyTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (s *spyTB) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *spyTB) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

func (s *spyTB) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// expectFailure checks that exactly one failure was reported and that it mentions each part.
func (s *spyTB) expectFailure(t *testing.T, parts ...string) {
	t.Helper()
	errs := s.failures()
	if len(errs) != 1 {
		t.Fatalf("got %d reported failures, want 1: %q", len(errs), errs)
	}
	t.Logf("reported: %s", errs[0])
	for _, p := range parts {
		if !strings.Contains(errs[0], p) {
			t.Errorf("reported failure %q does not mention %q", errs[0], p)
		}
	}
}

const (
	instID = int64(7)
	org    = "classroom"
)

// newFake starts a fake with one installation on org and the repository org/learner.
func newFake(t testing.TB) *Server {
	s := New(t)
	s.AddInstallation(instID, org)
	s.AddRepo(instID, org, "learner", nil)
	return s
}

// appClient is a go-github client authenticated as installation id the way the App does it:
// ghinstallation exchanges a JWT for an installation token. It uses GitHub Enterprise style
// URLs, so every request carries the /api/v3 prefix.
func appClient(t testing.TB, s *Server, id int64) *github.Client {
	t.Helper()
	tr, err := ghinstallation.New(http.DefaultTransport, s.AppID, id, s.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = s.URL + "/api/v3"
	c, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(s.URL+"/", s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jwtClient is a go-github client authenticated as the App itself, with a JWT, as
// ghinstallation's AppsTransport makes it.
func jwtClient(t testing.TB, s *Server) *github.Client {
	t.Helper()
	tr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID, s.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr.BaseURL = s.URL
	c := github.NewClient(&http.Client{Transport: tr})
	c.BaseURL = mustParse(t, s.URL+"/")
	return c
}

// receivedHook is one request a hookReceiver took.
type receivedHook struct {
	header http.Header
	body   []byte
}

// hookReceiver is the App's webhook endpoint, for the fake to deliver to. It fails the test
// on a delivery without GitHub's headers or a valid signature, and answers what status
// says (202 by default).
type hookReceiver struct {
	t      testing.TB
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	got    []receivedHook
	status func(n int, event string) int // n counts the deliveries received, from 1
}

func newHookReceiver(t testing.TB, secret string) *hookReceiver {
	h := &hookReceiver{t: t, secret: []byte(secret)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := func(f func() hash.Hash) string {
		m := hmac.New(f, h.secret)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	switch {
	case r.Header.Get("X-Hub-Signature-256") != "sha256="+sum(sha256.New):
		h.t.Errorf("delivery with X-Hub-Signature-256 %q, want sha256=%s", r.Header.Get("X-Hub-Signature-256"), sum(sha256.New))
	case r.Header.Get("X-Hub-Signature") != "sha1="+sum(sha1.New):
		h.t.Errorf("delivery with X-Hub-Signature %q, want sha1=%s", r.Header.Get("X-Hub-Signature"), sum(sha1.New))
	}
	for _, k := range []string{"X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-ID"} {
		if r.Header.Get(k) == "" {
			h.t.Errorf("delivery without %s", k)
		}
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(r.Header.Get("User-Agent"), "GitHub-Hookshot/") ||
		r.Header.Get("X-GitHub-Hook-Installation-Target-Type") != "integration" {
		h.t.Errorf("delivery %s with Content-Type %q, User-Agent %q, target type %q", r.Method, r.Header.Get("Content-Type"),
			r.Header.Get("User-Agent"), r.Header.Get("X-GitHub-Hook-Installation-Target-Type"))
	}
	h.mu.Lock()
	h.got = append(h.got, receivedHook{header: r.Header.Clone(), body: body})
	n, status := len(h.got), h.status
	h.mu.Unlock()
	code := http.StatusAccepted
	if status != nil {
		code = status(n, r.Header.Get("X-GitHub-Event"))
	}
	w.Header().Set("X-Receiver", "test")
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d", n)
}

func (h *hookReceiver) received() []receivedHook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// tokenClient is a go-github client with a token minted directly, and a plain base URL.
func tokenClient(t testing.TB, s *Server, id int64) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(s.Token(id))
	c.BaseURL = mustParse(t, s.URL+"/")
	return c
}

// raw sends a request by hand, for bodies go-github would not produce.
func raw(t testing.TB, s *Server, auth, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// statusOf is the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	switch e := err.(type) {
	case *github.ErrorResponse:
		return e.Response.StatusCode
	case *github.RateLimitError:
		return e.Response.StatusCode
	case *github.AbuseRateLimitError:
		return e.Response.StatusCode
	}
	return 0
}

func mustParse(t testing.TB, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
