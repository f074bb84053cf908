package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/tvsync/tvsync/internal/testdb"
)

// TestMain starts one throwaway PostgreSQL for the CLI's tests.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// runCLI runs the command line in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}
