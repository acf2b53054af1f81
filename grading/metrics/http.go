package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// webhookEvents are the events a label may name. The header is read before the signature is
// checked, so anything else an unsigned request claims reads "other": a label value per made-up
// event would let anyone grow the series without bound.
var webhookEvents = map[string]bool{
	"push": true, "pull_request": true, "check_run": true, "check_suite": true,
	"installation": true, "installation_repositories": true, "ping": true,
	"github_app_authorization": true, "meta": true,
}

func eventLabel(h string) string {
	switch {
	case h == "":
		return "none"
	case webhookEvents[h]:
		return h
	}
	return "other"
}

// Webhook wraps the webhook handler: each delivery's answer time by X-GitHub-Event, and the
// delivery by event and status code.
func (s *Set) Webhook(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		event := eventLabel(r.Header.Get("X-GitHub-Event"))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Recorded even when next panics (net/http answers that connection by closing it).
			code := sw.code
			if code == 0 {
				code = http.StatusOK // nothing written: net/http answers 200
			}
			s.webhookDuration.WithLabelValues(event).Observe(time.Since(start).Seconds())
			s.webhookDeliveries.WithLabelValues(event, strconv.Itoa(code)).Inc()
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code // 1xx are interim; the final answer follows
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Transport wraps next, counting every request to GitHub by method, route and status; a request
// that got no answer counts as status "error".
func (s *Set) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		status := "error"
		if err == nil && resp != nil {
			status = strconv.Itoa(resp.StatusCode)
		}
		s.githubRequests.WithLabelValues(req.Method, Route(req.URL.Path), status).Inc()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// routeWords are the GitHub API's literal path segments Holdfast uses (and their neighbours);
// any other segment is a name or a value and is collapsed.
var routeWords = map[string]bool{
	"api": true, "v3": true, "app": true, "apps": true, "installation": true, "installations": true,
	"access_tokens": true, "repositories": true, "repos": true, "orgs": true, "users": true, "user": true,
	"check-runs": true, "check-suites": true, "rerequest": true, "annotations": true,
	"issues": true, "comments": true, "pulls": true, "commits": true, "git": true, "blobs": true,
	"trees": true, "refs": true, "ref": true, "tags": true, "contents": true, "tarball": true,
	"zipball": true, "collaborators": true, "permission": true, "generate": true, "invitations": true,
	"hooks": true, "deliveries": true, "attempts": true, "branches": true, "statuses": true,
	"status": true, "rate_limit": true, "readme": true, "files": true, "reviews": true, "merge": true,
	"events": true, "members": true, "memberships": true, "teams": true, "labels": true,
	"template": true, "webhooks": true, "hook": true, "check-suite-preferences": true,
}

// maxRouteSegments bounds a route's length: deeper paths end in "/{more}".
const maxRouteSegments = 10

// Route collapses a GitHub API path to a bounded label: owners, repositories, organisations and
// users become {owner}, {repo}, {org}, {user}; numbers {id}; commit SHAs {sha}; whatever follows
// contents/, tarball/, git/refs/ and the like (a file path, a branch) becomes {path} or {ref};
// any other unknown segment {x}. "/repos/acme/shop/check-runs/42" reads
// "/repos/{owner}/{repo}/check-runs/{id}".
func Route(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return "/"
	}
	out := make([]string, 0, len(segs))
	for i := 0; i < len(segs); i++ {
		if len(out) == maxRouteSegments {
			out = append(out, "{more}")
			break
		}
		seg := segs[i]
		prev := ""
		if i > 0 {
			prev = segs[i-1]
		}
		switch {
		case prev == "repos" && i+1 < len(segs):
			out = append(out, "{owner}", "{repo}")
			i++
			continue
		case prev == "repos":
			out = append(out, "{owner}")
			continue
		case prev == "orgs":
			out = append(out, "{org}")
			continue
		case prev == "users" || prev == "collaborators" || prev == "members" || prev == "memberships":
			out = append(out, "{user}")
			continue
		case prev == "contents" || prev == "readme":
			out = append(out, "{path}")
			i = len(segs)
			continue
		case prev == "tarball" || prev == "zipball" || prev == "refs" || prev == "ref" || prev == "branches":
			out = append(out, "{ref}")
			i = len(segs)
			continue
		}
		switch {
		case isDigits(seg):
			out = append(out, "{id}")
		case isSHA(seg):
			out = append(out, "{sha}")
		case routeWords[seg]:
			out = append(out, seg)
		default:
			out = append(out, "{x}")
		}
	}
	return "/" + strings.Join(out, "/")
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
