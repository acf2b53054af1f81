// Package apptest runs the whole App in one test process: the webhook handler on an httptest
// server, real Postgres (storetest), River, a runner's workers grading with the engine the test
// chooses — grading/docker's for real gradings, gradingtest's scripted one for everything
// around them — and the fake GitHub (githubtest), which fails the test on any request that
// deviates from GitHub's OpenAPI description. Tests deliver GitHub's real webhook payloads
// (webhooktest) and watch check runs and comments appear on the fake:
//
//	a := apptest.New(t, apptest.Options{Engine: &gradingtest.Engine{}, Challenges: challenges, Lookup: gradingtest.Lookup})
//	as := a.Assign(t, "pay-alice", 5001, "idempotent-payments", "alice")
//	a.Push(t, as, "main", apptest.Commit("before"), apptest.Commit("one"), dir)
//	cr := a.Completed(t, "pay-alice", apptest.Commit("one"), 1)[0] // its check run, completed
//
// It is the one wiring of those parts for in-process tests; grading/chaos runs the built
// binaries instead.
package apptest
