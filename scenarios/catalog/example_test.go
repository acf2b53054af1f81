package catalog_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// templates stands in for a pack module's `//go:embed all:templates` directory:
// templates/<slug>/challenge.yaml, README.md (the brief) and starter/<lang>/….
var templates fs.FS = fstest.MapFS{
	"templates/pack-greeting/challenge.yaml": {Data: []byte("slug: pack-greeting\ntitle: Greeting service\ndifficulty: easy\n" +
		"languages: [go]\nformats: [practice, take-home]\nstart_timeout: 10s\n")},
	"templates/pack-greeting/README.md": {Data: []byte("# Greeting service\n")},
}

// Pack is what a pack's root package exports: its challenges' files and scenario tables.
func Pack() catalog.Pack {
	files, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err) // a constant path into an embedded directory
	}
	greets := func(ctx context.Context, h *scenarios.Harness) error {
		r := h.Do(ctx, scenarios.Request{Method: "GET", Path: "/greet?name=ada"})
		if r.Status != 200 || string(r.Body) != "hello, ada" {
			return scenarios.Failf(`GET /greet?name=ada to answer "hello, ada"`, "Greet by name.", "status %d, body %q", r.Status, r.Body)
		}
		return nil
	}
	return catalog.Pack{Name: "example.com/holdfastpack", Files: files,
		Scenarios: map[string]func() []scenarios.Scenario{"pack-greeting": func() []scenarios.Scenario {
			return []scenarios.Scenario{{Slug: "greets_by_name", Title: "Greets by name", Weight: 1, Visibility: scenarios.Public, Run: greets}}
		}}}
}

// The commands' wiring passes the packs to the commands, the built-in pack first; `runner pack
// build --with example.com/holdfastpack` writes main packages that do
//
//	func main() { cli.Main(catalog.Builtin(), holdfastpack.Pack()) }
//
// and the commands build their catalog with New.
func ExampleNew() {
	cat, err := catalog.New(catalog.Builtin(), Pack())
	if err != nil {
		panic(err)
	}
	c, err := cat.Lookup("pack-greeting")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(cat.Slugs()), c.Title, c.Pack, c.Formats, c.Limits.StartTimeout)
	// Output: 13 Greeting service example.com/holdfastpack [practice take-home] 10s
}
