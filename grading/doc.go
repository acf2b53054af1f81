// Package grading is the domain of Holdfast: it turns a submission into a Verdict by building the
// learner's image, provisioning a sandbox, running a challenge's scenarios against it and scoring
// the results. It declares the small interfaces it consumes (Engine, Sandbox); the Docker
// implementation lives in grading/docker.
//
// A learner's failure is a Verdict, never an error: Grade returns an error only when Holdfast
// itself failed and the grading should be retried.
package grading
