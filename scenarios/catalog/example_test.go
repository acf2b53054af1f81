package catalog_test

import (
	"context"
	"embed"
	"io/fs"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// templates would hold templates/<slug>/challenge.yaml, README.md and starter/<lang>/… in a
// pack's module (`//go:embed all:templates`).
var templates embed.FS

// A pack registers from its init function; `runner pack build --with MODULE` compiles it into
// runner and app. Not run here: the test binary's catalog is read before examples run, and a
// late Register panics.
func ExampleRegister() {
	files, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err)
	}
	greets := func(ctx context.Context, h *scenarios.Harness) error {
		r := h.Do(ctx, scenarios.Request{Method: "GET", Path: "/greet?name=ada"})
		if r.Status != 200 || string(r.Body) != "hello, ada" {
			return scenarios.Failf(`GET /greet?name=ada to answer "hello, ada"`, "Greet by name.", "status %d, body %q", r.Status, r.Body)
		}
		return nil
	}
	catalog.Register(catalog.Pack{Name: "example.com/holdfastpack", Files: files,
		Scenarios: map[string]func() []scenarios.Scenario{"pack-greeting": func() []scenarios.Scenario {
			return []scenarios.Scenario{{Slug: "greets_by_name", Title: "Greets by name", Weight: 1, Visibility: scenarios.Public, Run: greets}}
		}}})
}
