package githubtest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func TestExp(t *testing.T) {
	l := openapi3.NewLoader()
	doc, err := l.LoadFromFile("/work/shared/github/openapi/github-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(l.Context); err != nil {
		t.Log("validate:", err)
	}
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ m, p, b string }{
		{"POST", "/repos/o/r/check-runs", `{"name":"x","head_sha":"abc"}`},
		{"POST", "/repos/o/r/check-runs", `{"name":"x","head_sha":"abc","status":"completed","conclusion":"success"}`},
		{"POST", "/repos/o/r/check-runs", `{"name":"x","head_sha":"abc","status":"completed"}`},
		{"POST", "/repos/o/r/check-runs", `{"name":"x","head_sha":"abc","status":"in_progress","conclusion":"bogus"}`},
		{"POST", "/repos/o/r/check-runs", `{"name":"x","head_sha":"abc","started_at":"2024-01-01T00:00:00.123456789+02:00"}`},
		{"PATCH", "/repos/o/r/check-runs/5", `{"name":"x","status":"completed","conclusion":"success","output":{"title":"t","summary":"s"}}`},
		{"PATCH", "/repos/o/r/check-runs/5", `{"status":"completed"}`},
		{"PATCH", "/repos/o/r/git/refs/heads%2Fmain", `{"sha":"abc"}`},
		{"GET", "/repos/o/r/tarball/main", ``},
		{"POST", "/repos/o/r/generate", `{"name":"x","owner":"o"}`},
		{"GET", "/repos/o/r/issues/3/comments?per_page=2&page=x", ``},
	} {
		req := httptest.NewRequest(c.m, "http://127.0.0.1:5555"+c.p, bytes.NewBufferString(c.b))
		if c.b != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		route, params, err := r.FindRoute(req)
		if err != nil {
			t.Log(c.m, c.p, "route:", err)
			continue
		}
		err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		})
		t.Logf("%s %s %s %v => %v", c.m, c.p, route.Operation.OperationID, params, err)
	}
}
