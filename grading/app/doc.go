// Package app is Holdfast's GitHub App, everything cmd/app runs: it receives webhooks, keeps
// the App's database, reports queued gradings, serves run reports and the reviewers' pages, and
// provisions learners' and candidates' repositories. Main runs it with the process's arguments
// (`app migrate` applies the schema, `app serve` serves; the usage text lists the rest).
//
// The App's wing, one room per package:
//
//	grading/app          wiring: commands (serve, migrate, assign, invite, extend, …), routes, /readyz
//	grading/app/config   the environment, read and validated once for the App and the runner
//	grading/app/webhook  GitHub's deliveries in: verified, deduplicated, stored with their jobs
//	grading/app/jobs     River jobs and workers: grade, compare, publish, take-home deadlines
//	grading/app/store    the App's Postgres state (migrations/ holds the schema)
//	grading/app/github   the GitHub client (githubtest: a fake checked against the OpenAPI subset)
//	grading/app/repos    learners' and candidates' repositories, templates published as repositories
//	grading/app/web      the reviewers' pages and the take-home API
//
// The grading pipeline they drive is package grading (with grading/docker and grading/compare);
// the runner's commands, `runner work` among them, are grading/cli.
package app
