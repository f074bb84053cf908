package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/synccli"
)

// TestMain starts one throwaway PostgreSQL for the CLI's tests.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// runCLI runs the command line in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLIContext(context.Background(), t, args...)
}

// runCLIContext is runCLI under ctx (cancel it to interrupt the command).
func runCLIContext(ctx context.Context, t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut lockedBuffer
	code = execute(ctx, strings.NewReader(""), &out, &errOut, args...)
	return code, out.String(), errOut.String()
}

// execute runs the tvsync CLI in-process on the given streams.
func execute(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args ...string) int {
	cfg := config()
	cfg.Stdin, cfg.Stdout, cfg.Stderr = stdin, stdout, stderr
	cli, err := synccli.New(cfg)
	if err != nil {
		panic(err) // config() is the binary's: main reports the same error
	}
	return cli.Execute(ctx, args)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	binaryOnce gosync.Once
	binaryPath string
	binaryErr  error
)

// binary builds the tvsync command once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tvsync-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "tvsync")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binaryErr)
	return binaryPath
}

// binaryCommand returns the built tvsync binary with args, whose environment
// has no DATABASE_URL but the given extra variables.
func binaryCommand(ctx context.Context, t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runBinary runs the built tvsync binary and returns its exit status and output.
func runBinary(t *testing.T, env []string, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := binaryCommand(context.Background(), t, env, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// withPassword returns url with the user's password set to password.
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// newCLI returns the tvsync CLI on the process's streams.
func newCLI() *synccli.CLI {
	cli, err := synccli.New(config())
	if err != nil {
		panic(err) // config() is the binary's: main reports the same error
	}
	return cli
}
