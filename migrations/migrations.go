// Package migrations holds the App's schema as numbered SQL files, applied in order by
// store.Migrate (River's own tables come from rivermigrate, not from here).
package migrations

import "embed"

// FS holds the *.sql files; each file runs once, in name order, in its own transaction.
//
//go:embed *.sql
var FS embed.FS
