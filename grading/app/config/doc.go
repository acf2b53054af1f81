// Package config is the one place Holdfast's processes read their settings from: the App
// (`app serve`, `app migrate`, …), the runner (`runner work`, `grade`, `compare`, `stability`,
// `janitor`, `build`) and the learner's tool (`holdfast test`). FromEnv reads the variables a
// Role uses from the environment, once, at start-up, fills the defaults (each an exported
// constant, named in its field's comment) and says in one message everything that is missing
// or wrong, before anything starts. README.md's "Configuration" table lists the same variables
// and defaults; a test keeps the two in step.
package config
