// Command runner grades submissions: `runner grade DIR` locally, `runner work` for the GitHub
// App's queue. Everything it does is in grading/cli; this file only wires it.
package main

import "github.com/holdfast-ci/holdfast/grading/cli"

func main() { cli.Main() }
