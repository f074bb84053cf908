package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGen_BlogFilesAreWhatTheDeclarationsGenerate runs the tvsync binary's
// gen --check on the repository's tvsync.yaml: queries/*.gen.sql and
// blog/entities_gen.go are exactly what it generates.
func TestGen_BlogFilesAreWhatTheDeclarationsGenerate(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := execute(context.Background(), strings.NewReader(""), &out, &errOut, "gen", "--check", "--file", "../../tvsync.yaml")
	assert.Equal(t, 0, code, errOut.String())
	assert.Empty(t, out.String())
}
