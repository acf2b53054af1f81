// Package compare grades a refactor: the same challenge's scenarios run, in the same order and
// with the same inputs, on a pull request's base and on its head, and any scenario whose outcome
// or failure differs between the two is a behaviour change, reported as "behaviour changed:
// before … after …". A refactor passes when no behaviour changed.
//
// Beside the verdict it measures both trees (lines of code, longest function, cyclomatic
// complexity, duplicated lines, test count) and reports the deltas as information: they are not
// part of the score. Go is measured on its syntax tree (go/ast); TypeScript, JavaScript and
// Python with the documented line-based heuristics in heuristic.go.
//
// Judge is pure (two verdicts in, a Result out); Comparer runs both gradings with one Grader;
// Measure reads a tree from disk. Scenario inputs are part of the challenge's table, so base and
// head see the same requests as long as scenarios draw them from fixed data or a fixed seed,
// which refactor challenges must.
package compare
