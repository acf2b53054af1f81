// Command holdfast is the learner's tool: `holdfast init SLUG --lang go` writes a challenge's
// brief and starter into a new directory, `holdfast test` in it grades it with the challenge's
// public scenarios, as the grader does on every push. Install it with
//
//	go install github.com/holdfast-ci/holdfast/cmd/holdfast@latest
//
// It needs Docker and nothing of a Holdfast checkout: the starters are embedded, and the
// agent image the sandboxes run is built from this binary (`holdfast agent`). Everything it
// does is in grading/cli; this file only wires it.
package main

import "github.com/holdfast-ci/holdfast/grading/cli"

func main() { cli.LearnerMain() }
