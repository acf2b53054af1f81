package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specFile is where the OpenAPI subset lives below the shared directory.
var specFile = filepath.Join("github", "openapi", "github-subset.json")

// spec is the parsed OpenAPI subset and the router built from it. It is never modified after
// loading, so one copy serves every Server of the test binary: parsing 440 kB per test would
// make the suite slow for nothing.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	// multiSegment matches the paths with a parameter that may span several segments
	// (x-multi-segment: a ref such as heads/feature/x). Its one group is that parameter.
	multiSegment []*regexp.Regexp
}

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

func loadSpec() (*spec, error) {
	specOnce.Do(func() { loadedSpec, specErr = readSpec() })
	return loadedSpec, specErr
}

// specLocation finds the subset: $HOLDFAST_SHARED_DIR if set, else ../shared beside the
// nearest directory above the working directory that holds go.mod (tests run in their
// package's directory).
func specLocation() (string, error) {
	if dir := os.Getenv("HOLDFAST_SHARED_DIR"); dir != "" {
		return filepath.Join(dir, specFile), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", specFile), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s; set HOLDFAST_SHARED_DIR to the shared directory", wd)
		}
		dir = parent
	}
}

func readSpec() (*spec, error) {
	path, err := specLocation()
	if err != nil {
		return nil, fmt.Errorf("locate the OpenAPI subset: %w", err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI subset: %w (HOLDFAST_SHARED_DIR, if set, must name the shared directory that holds %s)", err, specFile)
	}
	// GitHub's own example for repos/create-in-org lacks the required has_discussions, so
	// examples are not held to their schemas; everything else must be sound.
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("the OpenAPI subset %s is invalid: %w", path, err)
	}
	// The document names https://api.github.com; without servers the router matches any host,
	// which is what a fake on a random 127.0.0.1 port needs.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI subset: %w", err)
	}
	sp := &spec{doc: doc, router: router}
	for _, tmpl := range doc.Paths.InMatchingOrder() {
		for _, op := range doc.Paths.Value(tmpl).Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInPath && p.Value.Extensions["x-multi-segment"] == true {
					sp.multiSegment = append(sp.multiSegment, multiSegmentPattern(tmpl, p.Value.Name))
				}
			}
		}
	}
	return sp, nil
}

// multiSegmentPattern matches the paths of template tmpl, capturing parameter name whole.
func multiSegmentPattern(tmpl, name string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, seg := range strings.Split(strings.TrimPrefix(tmpl, "/"), "/") {
		b.WriteString("/")
		switch {
		case seg == "{"+name+"}":
			b.WriteString("(.+)")
		case strings.HasPrefix(seg, "{"):
			b.WriteString("[^/]+")
		default:
			b.WriteString(regexp.QuoteMeta(seg))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// route finds the operation of r, whose escaped path without the /api/v3 prefix is
// escapedPath. gorilla/mux matches one segment per parameter, so the slashes of a
// multi-segment parameter are escaped first. It returns a copy of r with that path (the
// probe, which the validators read) and the router's vars, still escaped.
func (sp *spec) route(r *http.Request, escapedPath string) (*routers.Route, map[string]string, *http.Request, error) {
	raw := escapedPath
	for _, re := range sp.multiSegment {
		if m := re.FindStringSubmatchIndex(raw); m != nil {
			raw = raw[:m[2]] + strings.ReplaceAll(raw[m[2]:m[3]], "/", "%2F") + raw[m[3]:]
			break
		}
	}
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bad path escaping: %w", err)
	}
	probe := r.Clone(r.Context())
	probe.URL.Path, probe.URL.RawPath = decoded, raw
	route, vars, err := sp.router.FindRoute(probe)
	if err != nil {
		return nil, nil, nil, err
	}
	return route, vars, probe, nil
}

// requestOptions are the validator's settings: authentication is the fake's own job, defaults
// are applied by the handlers, and a body on an operation that takes none is an error.
func requestOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults:               true,
		RejectWhenRequestBodyNotSpecified: true,
		MultiError:                        true,
		SchemaValidationOptions:           []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
}

// validateRequest checks r (whose URL is the probe's, see route) against its operation.
// Beyond openapi3filter it rejects query parameters the operation does not declare: GitHub
// ignores them, so a misspelt per_page would otherwise go unnoticed.
func (sp *spec) validateRequest(ctx context.Context, r *http.Request, route *routers.Route, vars map[string]string, body []byte) error {
	var unknown []string
	for name := range r.URL.Query() {
		if !declaresQuery(route, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil && !rb.Value.Required && string(bytes.TrimSpace(body)) == "null" {
		// ghinstallation (and go-github with nil options) encode an absent optional body as
		// JSON null; GitHub takes that for no body.
		body = nil
	}
	body = withDiscriminatorDefault(route.Operation, body)
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	} else {
		r.Body = http.NoBody
	}
	err := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: r, PathParams: vars, Route: route, Options: requestOptions(),
	})
	if len(unknown) > 0 {
		err = errors.Join(fmt.Errorf("query parameters %s are not documented for this operation", strings.Join(unknown, ", ")), err)
	}
	return err
}

func declaresQuery(route *routers.Route, name string) bool {
	for _, params := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Name == name {
				return true
			}
		}
	}
	return false
}

// withDiscriminatorDefault fills in a request body's missing discriminator property with its
// documented default. checks/create discriminates its oneOf on status, which defaults to
// queued and is not required; kin-openapi rejects a body without the discriminator before
// applying defaults, whereas GitHub accepts it.
func withDiscriminatorDefault(op *openapi3.Operation, body []byte) []byte {
	schema := requestSchema(op)
	if schema == nil || schema.Discriminator == nil {
		return body
	}
	name := schema.Discriminator.PropertyName
	prop := schema.Properties[name]
	if prop == nil || prop.Value == nil || prop.Value.Default == nil {
		return body
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || m == nil {
		return body
	}
	if _, ok := m[name]; ok {
		return body
	}
	m[name] = prop.Value.Default
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func requestSchema(op *openapi3.Operation) *openapi3.Schema {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// responseSchema is the documented JSON schema of op's answer with status, or nil.
func responseSchema(op *openapi3.Operation, status int) *openapi3.Schema {
	ref := op.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return nil
	}
	mt := ref.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// validateResponse checks one of the fake's own answers; a failure is a bug in the fake.
func validateResponse(ctx context.Context, probe *http.Request, route *routers.Route, vars map[string]string, status int, header http.Header, body []byte) error {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: vars, Route: route, Options: requestOptions()},
		Status:                 status,
		Header:                 header,
		Options:                requestOptions(),
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(ctx, in)
}
