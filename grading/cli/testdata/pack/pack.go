// Package holdfastpack is a challenge pack in a module of its own, as an operator would write
// one: one challenge, pack-greeting, with a public and a hidden scenario. Its templates
// (challenge.yaml, brief, starter) are embedded; its reference solution and broken variant
// live in testdata/ and are never compiled in. Pack is what `runner pack build` passes to the
// runner's and the App's commands.
package holdfastpack

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// templates holds templates/<slug>/: "all:" keeps the starters' dot files.
//
//go:embed all:templates
var templates embed.FS

// Pack is the pack: its templates and pack-greeting's scenario table.
func Pack() catalog.Pack {
	files, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err) // a constant path into an embedded directory
	}
	return catalog.Pack{Name: "example.com/holdfastpack", Files: files,
		Scenarios: map[string]func() []scenarios.Scenario{"pack-greeting": Scenarios}}
}

// Scenarios is pack-greeting's table: greet by name (public), answer the handshake (hidden).
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "greets_by_name", Title: "Greets by name", Weight: 1, Visibility: scenarios.Public, Run: greets},
		{Slug: "secret_handshake", Title: "Answers the secret handshake", Weight: 1, Visibility: scenarios.Hidden, Run: handshake},
	}
}

func greets(ctx context.Context, h *scenarios.Harness) error {
	r := h.Do(ctx, scenarios.Request{Method: "GET", Path: "/greet?name=ada"})
	if r.Status != 200 || string(r.Body) != "hello, ada" {
		return scenarios.Failf(`GET /greet?name=ada to answer 200 with "hello, ada"`, "Answer with hello, a comma, a space and the name.",
			"%s", answer(r))
	}
	return nil
}

func handshake(ctx context.Context, h *scenarios.Harness) error {
	r := h.Do(ctx, scenarios.Request{Method: "GET", Path: "/handshake-7f3a"})
	if r.Status != 200 || string(r.Body) != "7f3a-ok" {
		return scenarios.Failf(`GET /handshake-7f3a to answer 200 with "7f3a-ok"`, "Answer the handshake route with its token, the one the brief never names.",
			"%s", answer(r))
	}
	return nil
}

// answer says what the app answered, or why it did not.
func answer(r scenarios.Response) string {
	if r.Err != nil {
		return "no answer: " + r.Err.Error()
	}
	return fmt.Sprintf("status %d, body %q", r.Status, r.Body)
}
