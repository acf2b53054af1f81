// Package app is Holdfast's GitHub App, everything cmd/app runs: it receives webhooks, keeps
// the App's database, reports queued gradings, serves run reports and the reviewers' pages, and
// provisions learners' and candidates' repositories. Main runs it with the process's arguments
// (`app migrate` applies the schema, `app serve` serves; the usage text lists the rest).
package app
