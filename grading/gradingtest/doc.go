// Package gradingtest is a scripted grading.Engine, for the tests of what happens around a
// grading — River jobs, publishing, take-homes, the App end to end — that need a verdict but not
// a real build or sandbox, so they run without Docker. It plays the part Woodpecker's "dummy"
// backend plays for its pipelines and rivertest for River's users.
//
// What a submission does is scripted by a file at its root, ScriptFile (see Script): a test
// pushes a directory holding one, so the script travels with the commit as a learner's code
// would, through the fake GitHub's tarball and the worker's download. A submission without one
// gets the Engine's own Script.
//
// The grader's pipeline runs for real against it: Grader.Grade builds, provisions, starts the
// app, runs the scenarios (a real agent on loopback answers the harness), restarts after
// disruptive ones, checks that the sandbox is intact and tears it down. Only the app is a script:
// an HTTP server on loopback whose scenario endpoints pass or fail as the script says. Scenario
// makes a scenario that asks it, Challenge a table of three (Lookup serves it for any slug).
//
// Tests that prove Docker behaviour (builds, the sandbox's promises, a real reference graded
// 100) keep grading/docker's engine (dockertest.Engine).
package gradingtest
