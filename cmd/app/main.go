// Command app is Holdfast's GitHub App. Everything it does is in grading/app; this file only
// wires it.
package main

import "github.com/holdfast-ci/holdfast/grading/app"

func main() { app.Main() }
