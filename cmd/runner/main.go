// Command runner grades submissions: `runner grade DIR` locally, `runner work` for the GitHub
// App's queue. Everything it does is in grading/cli; this file only wires it, with Holdfast's
// own challenges (`runner pack build` writes the same file with an operator's packs added).
package main

import (
	"github.com/holdfast-ci/holdfast/grading/cli"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func main() { cli.Main(catalog.Builtin()) }
