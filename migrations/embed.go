// Package migrations holds tvsync's goose SQL migrations, embedded so that
// the CLI, the tests and embedding applications run exactly the files that
// sqlc reads as its schema.
package migrations

import "embed"

// FS holds every migration file (*.sql) of this folder, in goose's format.
//
//go:embed *.sql
var FS embed.FS
