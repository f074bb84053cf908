package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

// TestMain starts one throwaway PostgreSQL for the command's tests.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// runBench runs the command in-process, with DATABASE_URL set to env (unset
// when empty), and returns its exit status and output.
func runBench(t *testing.T, env string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("DATABASE_URL", env)
	var out, errOut bytes.Buffer
	code = execute(context.Background(), &out, &errOut, args)
	return code, out.String(), errOut.String()
}

// secret is the password of the database URLs of the redaction tests.
const secret = "s3cr3tPassw0rd"

func TestBench_HelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		code, out, errOut := runBench(t, "", args...)
		assert.Equal(t, 0, code, errOut)
		assert.Empty(t, errOut)
		assert.Contains(t, out, "Usage:\n  tvsync-bench [--scale main|1m|tiny]")
		for _, flag := range []string{"--scale", "--out", "--data-dir", "--database-url", "--log-level", "--tvsync-bin"} {
			assert.Contains(t, out, flag)
		}
	}
}

func TestBench_UsageErrorsExitTwoBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close()
		}
	}()
	dbURL := "postgres://app:" + secret + "@" + ln.Addr().String() + "/prod"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scale", "huge"}, `tvsync-bench: --scale "huge": want main, 1m or tiny`},
		{[]string{"--log-level", "loud"}, `tvsync-bench: --log-level "loud": want debug, info, warn or error`},
		{[]string{"--bogus"}, "tvsync-bench: unknown flag: --bogus"},
		{[]string{"extra"}, `tvsync-bench: unknown command "extra"`},
	} {
		for _, how := range []string{"flag", "env"} {
			args, env := tc.args, dbURL
			if how == "flag" {
				args, env = append([]string{"--database-url", dbURL}, tc.args...), ""
			}
			code, out, errOut := runBench(t, env, args...)
			assert.Equal(t, 2, code, "%v: %s", args, errOut)
			assert.Empty(t, out, args)
			assert.Contains(t, errOut, tc.want, args)
			assert.True(t, strings.HasSuffix(errOut, "\nRun 'tvsync-bench --help' for usage.\n"), "%v: %s", args, errOut)
			assert.NotContains(t, errOut, secret, args)
		}
	}
	assert.Zero(t, accepted.Load(), "no usage error may connect to the database")
}

// TestBench_TinyRunPrintsTheReportNeverThePassword runs the suite at the
// smoke-test scale on the test server (it creates databases of its own, so
// it needs a superuser), given by flag and by DATABASE_URL, at log level
// debug, with the peak-memory child built by the command and given by
// --tvsync-bin: exit 0, the report on standard output, no password anywhere.
func TestBench_TinyRunPrintsTheReportNeverThePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole suite at the tiny scale")
	}
	u, err := url.Parse(testdb.ServerURL("postgres"))
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), secret)
	admin := u.String()

	bin := filepath.Join(t.TempDir(), "tvsync")
	out, err := exec.Command("go", "build", "-o", bin, "../tvsync").CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, tc := range []struct {
		name string
		env  string
		args []string
	}{
		{"flag, child built", "", []string{"--database-url", admin}},
		{"env, child given", admin, []string{"--tvsync-bin", bin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--log-level", "debug", "--scale", "tiny", "--out", ""}, tc.args...)
			code, out, errOut := runBench(t, tc.env, args...)
			require.Equal(t, 0, code, errOut)
			assert.Contains(t, out, "# tvsync benchmarks (scale tiny)")
			assert.NotContains(t, out+errOut, secret)
		})
	}
}
