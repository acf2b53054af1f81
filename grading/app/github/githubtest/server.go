package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
)

// Server is a fake api.github.com. Its exported fields are set by New and read-only after.
type Server struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:41234. Clients may use it as is or
	// with /api/v3 appended (GitHub Enterprise style): the prefix is ignored.
	URL string
	// AppID is the id of the one GitHub App the fake knows; JWTs must carry it as iss.
	AppID int64
	// AppSlug is the App's slug, as in apps/get-installation's app_slug.
	AppSlug string
	// BotLogin is the login of the App's bot user, AppSlug + "[bot]": the author of every
	// comment made with an installation token.
	BotLogin string
	// PrivateKeyPEM is the App's private key (PKCS#1 PEM), to sign JWTs with.
	PrivateKeyPEM []byte

	t    testing.TB
	spec *spec
	key  *rsa.PrivateKey
	srv  *httptest.Server

	mu            sync.Mutex // guards everything below
	lastID        int64
	userIDs       map[string]int64
	installations map[int64]*installation
	tokens        map[string]*accessToken
	repos         map[string]*repo // by lower-case owner/name
	archives      map[string]archive
	failures      map[string][]failure
	outage        *Outage
	generateLag   int
	calls         []Call
	webhook       webhook
	deliveries    []*delivery // in the order they were recorded
	// background counts the redeliveries in flight; backgroundDone (on mu) is signalled when
	// it drops to 0. A counter under mu rather than a WaitGroup, so that a redelivery may be
	// requested while a test waits (WaitDeliveries).
	background     int
	backgroundDone *sync.Cond
	// closed is set by the cleanup of New: no redelivery starts after it.
	closed bool

	// hookClient posts the deliveries; its timeout is GitHub's (deliveryTimeout).
	hookClient *http.Client
}

// Call is one request the fake received, in arrival order.
type Call struct {
	Method string
	// Path is the request's path without a leading /api/v3, unescaped.
	Path  string
	Query string
	// OperationID is GitHub's id of the operation the request matched (checks/create, …);
	// "codeload" for the archive download a tarball link redirects to; empty if none matched.
	OperationID string
	// Status is the fake's answer.
	Status int
	Body   []byte
}

type failure struct {
	status int
	header http.Header
}

// maxRequestBytes caps a request body; GitHub's own limit is larger, but no call of the App
// comes near this.
const maxRequestBytes = 32 << 20

var (
	keyOnce   sync.Once
	sharedKey *rsa.PrivateKey
	keyErr    error
)

// loadAppKey makes the App's RSA key once per test binary: generating a 2048-bit key takes
// about 100 ms, and every fake of a binary may as well share one.
func loadAppKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { sharedKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return sharedKey, keyErr
}

// New starts a fake GitHub for t; it is closed when t ends. The OpenAPI subset is loaded once
// per test binary; if it cannot be found or parsed, New fails t.
func New(t testing.TB) *Server {
	t.Helper()
	sp, err := loadSpec()
	if err != nil {
		t.Fatalf("githubtest: %v", err)
	}
	key, err := loadAppKey()
	if err != nil {
		t.Fatalf("githubtest: generate the App's key: %v", err)
	}
	s := &Server{
		AppID:         424242,
		AppSlug:       "holdfast-test",
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		t:             t,
		spec:          sp,
		key:           key,
		lastID:        100000,
		userIDs:       map[string]int64{},
		installations: map[int64]*installation{},
		tokens:        map[string]*accessToken{},
		repos:         map[string]*repo{},
		archives:      map[string]archive{},
		failures:      map[string][]failure{},
	}
	s.BotLogin = s.AppSlug + "[bot]"
	s.backgroundDone = sync.NewCond(&s.mu)
	s.hookClient = newHookClient()
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(func() {
		// Redeliveries run in the background and may report failures: they must end while t
		// can still take them, and before the server they may call back goes away.
		s.mu.Lock()
		s.closed = true
		s.waitBackground()
		s.mu.Unlock()
		s.hookClient.CloseIdleConnections()
		s.srv.Close()
	})
	return s
}

// Calls returns a copy of every request received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// FailNext makes the next n requests to operation opID (e.g. "checks/create") fail with
// status and header, after their validation and authentication and before any effect. The
// body is GitHub's for that kind of failure, so go-github classifies it as GitHub would:
// 403/429 with x-ratelimit-remaining: 0 is a primary rate limit; other 403/429 answers are
// the secondary rate limit; anything else carries the status text.
func (s *Server) FailNext(opID string, n int, status int, header http.Header) {
	s.t.Helper()
	if s.operation(opID) == nil {
		s.t.Fatalf("githubtest: FailNext: %q is not an operation of the OpenAPI subset", opID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[opID] = append(s.failures[opID], failure{status: status, header: header.Clone()})
	}
}

// Outage is a fault of the whole API, for chaos tests (see SetOutage).
type Outage struct {
	// Status, if not 0, is the answer to every request, with GitHub's body for it (as
	// FailNext gives): 503, or 403/429 for a rate limit (see FailNext).
	Status int
	// Header is sent with Status, e.g. Retry-After or X-RateLimit-Remaining.
	Header http.Header
	// Hang delays every request before it is authenticated and handled; a request whose
	// client gives up meanwhile stops waiting.
	Hang time.Duration
}

// SetOutage starts a fault of the whole API; nil ends it. While it is set, every API request
// (not tarball downloads from the codeload link, not webhook deliveries) is first delayed by
// o.Hang, without blocking other requests, and then, if o.Status is not 0, answered with that
// status after its validation and authentication and before any effect. With Status 0 the
// request goes on normally after the hang. A request takes the outage in force when it
// arrives. Such requests are recorded in Calls like any other.
//
// A request whose client gives up during a hang still takes effect (with Status 0), as one
// GitHub was slow to answer may: the App sees a timeout and cannot tell whether it happened.
func (s *Server) SetOutage(o *Outage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o == nil {
		s.outage = nil
		return
	}
	s.outage = &Outage{Status: o.Status, Header: o.Header.Clone(), Hang: o.Hang}
}

// SetGenerateLag makes each repository created from a template look empty to its first n
// installation-token API requests after its creation (any operation on it counts): GitHub answers
// repos/create-using-template at once but fills the repository in the background. Meanwhile
// repos/get shows size 0, the tarball answers 404 and the git data API 409 "Git Repository
// is empty.". The default is 0.
func (s *Server) SetGenerateLag(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generateLag = n
}

// request is one API call on its way through the fake.
type request struct {
	op     string
	method string
	path   string            // unescaped, without /api/v3
	prefix string            // "/api/v3" if the client used it, for links back to the API
	vars   map[string]string // path parameters, unescaped
	query  url.Values
	body   []byte

	token *accessToken  // set for installation-token operations
	inst  *installation // the token's or the JWT-addressed installation
	repo  *repo         // the repository named by owner/repo or template_owner/template_repo
	// lagging says the repository still looks empty to this request (SetGenerateLag).
	lagging bool
}

// response is what a handler answers; the pipeline completes, validates and writes it.
type response struct {
	status int
	header http.Header
	body   any // encoded as JSON; nil for none
}

func reply(status int, body any) response { return response{status: status, body: body} }

// errorReply is GitHub's error body. documentation_url is filled by the pipeline.
func errorReply(status int, message string) response {
	return response{status: status, body: map[string]any{"message": message, "status": fmt.Sprint(status)}}
}

// ServeHTTP serves the fake API; tests reach it through URL. Every request is recorded,
// whatever its fate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(body) > maxRequestBytes {
		s.t.Errorf("githubtest: %s %s: unreadable or oversized body (%d bytes, %v)", r.Method, r.URL.Path, len(body), err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	escaped := r.URL.EscapedPath()
	prefix := ""
	if rest, ok := strings.CutPrefix(escaped, "/api/v3/"); ok {
		prefix, escaped = "/api/v3", "/"+rest
	}
	unescaped, _ := url.PathUnescape(escaped)
	call := Call{Method: r.Method, Path: unescaped, Query: r.URL.RawQuery, Body: body}
	if strings.HasPrefix(escaped, codeloadPath) {
		call.OperationID = "codeload"
		call.Status = s.serveCodeload(w, r)
		s.record(call)
		return
	}

	rq := &request{method: r.Method, path: unescaped, prefix: prefix, query: r.URL.Query(), body: body}
	route, rawVars, probe, err := s.spec.route(r, escaped)
	var resp response
	switch {
	case err != nil:
		s.t.Errorf("githubtest: %s %s matches no operation of GitHub's OpenAPI subset (%v)", r.Method, unescaped, err)
		resp = errorReply(http.StatusNotFound, "Not Found")
	default:
		rq.op = route.Operation.OperationID
		call.OperationID = rq.op
		rq.vars = make(map[string]string, len(rawVars))
		for k, v := range rawVars {
			rq.vars[k], _ = url.PathUnescape(v)
		}
		resp = s.dispatch(r, rq, route, rawVars, probe)
	}
	call.Status = s.write(w, rq, route, rawVars, probe, resp)
	s.record(call)
}

// dispatch validates, authenticates and handles one routed request.
func (s *Server) dispatch(r *http.Request, rq *request, route *routers.Route, rawVars map[string]string, probe *http.Request) response {
	if err := s.spec.validateRequest(r.Context(), probe, route, rawVars, rq.body); err != nil {
		s.t.Errorf("githubtest: %s (%s %s) breaks GitHub's OpenAPI description: %v", rq.op, rq.method, rq.path, err)
		return errorReply(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error())
	}
	handle := handlers[rq.op]
	if handle == nil {
		s.t.Errorf("githubtest: %s (%s %s) is in the OpenAPI subset but the fake does not serve it", rq.op, rq.method, rq.path)
		return errorReply(http.StatusNotImplemented, "githubtest does not serve "+rq.op)
	}

	s.mu.Lock()
	outage := s.outage
	s.mu.Unlock()
	if outage != nil && outage.Hang > 0 {
		hang := time.NewTimer(outage.Hang)
		select {
		case <-hang.C:
		case <-r.Context().Done():
			hang.Stop()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if resp, ok := s.authorize(rq, route.Path, r.Header.Get("Authorization")); !ok {
		return resp
	}
	if outage != nil && outage.Status != 0 {
		return injected(failure{status: outage.Status, header: outage.Header})
	}
	if q := s.failures[rq.op]; len(q) > 0 {
		s.failures[rq.op] = q[1:]
		return injected(q[0])
	}
	if rq.repo != nil && rq.repo.archived && rq.method != http.MethodGet && rq.op != "repos/update" {
		return errorReply(http.StatusForbidden, "Repository was archived so is read-only.")
	}
	return handle(s, rq)
}

// injected is the answer of a FailNext failure or an Outage, with GitHub's body for it.
func injected(f failure) response {
	resp := response{status: f.status, header: f.header}
	limited := f.status == http.StatusForbidden || f.status == http.StatusTooManyRequests
	switch {
	case limited && f.header.Get("X-Ratelimit-Remaining") == "0":
		resp.body = map[string]any{"message": "API rate limit exceeded for installation.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"}
	case limited:
		resp.body = map[string]any{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}
	default:
		resp.body = map[string]any{"message": http.StatusText(f.status)}
	}
	return resp
}

// write completes resp's body to the documented schema, checks it, and sends it. It returns
// the status sent.
func (s *Server) write(w http.ResponseWriter, rq *request, route *routers.Route, rawVars map[string]string, probe *http.Request, resp response) int {
	header := w.Header()
	for k, vs := range resp.header {
		header[k] = vs
	}
	var data []byte
	if resp.body != nil {
		v, err := jsonValue(resp.body)
		if err != nil {
			s.t.Errorf("githubtest: internal: encode the answer to %s: %v", rq.op, err)
		}
		if m, ok := v.(map[string]any); ok && resp.status >= 400 && route != nil && route.Operation.ExternalDocs != nil {
			if _, set := m["documentation_url"]; !set {
				m["documentation_url"] = route.Operation.ExternalDocs.URL
			}
		}
		if route != nil {
			f := filler{base: s.URL, now: s.now().Format(time.RFC3339)}
			v = f.complete(responseSchema(route.Operation, resp.status), v, 0)
		}
		data, _ = json.Marshal(v)
		header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if route != nil {
		if err := validateResponse(probe.Context(), probe, route, rawVars, resp.status, header, data); err != nil {
			s.t.Errorf("githubtest: internal: the fake's %d answer to %s does not match GitHub's schema: %v", resp.status, rq.op, err)
		}
	}
	w.WriteHeader(resp.status)
	w.Write(data)
	return resp.status
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// operation is the subset's operation with id opID, or nil.
func (s *Server) operation(opID string) *routers.Route {
	for _, tmpl := range s.spec.doc.Paths.InMatchingOrder() {
		item := s.spec.doc.Paths.Value(tmpl)
		for method, op := range item.Operations() {
			if op.OperationID == opID {
				return &routers.Route{Spec: s.spec.doc, Path: tmpl, PathItem: item, Method: method, Operation: op}
			}
		}
	}
	return nil
}

// nextID hands out ids for every kind of object; GitHub's are unique per kind, these are
// unique overall, which is stricter.
func (s *Server) nextID() int64 {
	s.lastID++
	return s.lastID
}

// now is GitHub's clock: UTC, whole seconds.
func (s *Server) now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// decode reads a validated request body into T.
func decode[T any](rq *request) (T, error) {
	var v T
	if len(rq.body) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(rq.body, &v); err != nil {
		return v, fmt.Errorf("%s: decode body: %w", rq.op, err)
	}
	return v, nil
}

// badBody answers a body the schema allowed but Go could not decode (it should not happen).
func (s *Server) badBody(err error) response {
	s.t.Errorf("githubtest: %v", err)
	return errorReply(http.StatusBadRequest, "Problems parsing JSON")
}

// handlers serve each operation of the subset, by GitHub's operation id. A handler runs with
// s.mu held, after validation and authorization.
var handlers = map[string]func(*Server, *request) response{
	"apps/get-installation":                           (*Server).getInstallation,
	"apps/create-installation-access-token":           (*Server).createAccessToken,
	"repos/get":                                       (*Server).getRepo,
	"repos/update":                                    (*Server).updateRepo,
	"repos/create-in-org":                             (*Server).createOrgRepo,
	"repos/create-using-template":                     (*Server).generateRepo,
	"repos/add-collaborator":                          (*Server).addCollaborator,
	"repos/remove-collaborator":                       (*Server).removeCollaborator,
	"repos/download-tarball-archive":                  (*Server).tarballLink,
	"checks/create":                                   (*Server).createCheckRun,
	"checks/update":                                   (*Server).updateCheckRun,
	"repos/list-pull-requests-associated-with-commit": (*Server).listCommitPulls,
	"pulls/list":                                      (*Server).listPulls,
	"issues/list-comments":                            (*Server).listComments,
	"issues/create-comment":                           (*Server).createComment,
	"issues/update-comment":                           (*Server).updateComment,
	"git/create-blob":                                 (*Server).createBlob,
	"git/create-tree":                                 (*Server).createTree,
	"git/create-commit":                               (*Server).createCommit,
	"git/create-ref":                                  (*Server).createRef,
	"git/update-ref":                                  (*Server).updateRef,
	"apps/get-authenticated":                          (*Server).getApp,
	"apps/get-repo-installation":                      (*Server).getRepoInstallation,
	"checks/list-for-ref":                             (*Server).listCheckRunsForRef,
	"apps/list-webhook-deliveries":                    (*Server).listDeliveries,
	"apps/get-webhook-delivery":                       (*Server).getDelivery,
	"apps/redeliver-webhook-delivery":                 (*Server).redeliver,
}
