// Package scenarios is the harness engine: a Scenario is a named behavioural check that drives a
// learner's app over HTTP, injects faults through the sandbox agent, observes ground truth (the
// downstream fake's ledger, the sidecars) and returns a learner-facing Failure or nil.
//
// Each challenge has its own package below this one with its scenario table; its reference
// solutions and deliberately broken variants live in that package's testdata/.
package scenarios
