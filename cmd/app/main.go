// Command app is Holdfast's GitHub App. Everything it does is in grading/app; this file only
// wires it, with Holdfast's own challenges (`runner pack build` writes the same file with an
// operator's packs added).
package main

import (
	"github.com/holdfast-ci/holdfast/grading/app"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func main() { app.Main(catalog.Builtin()) }
