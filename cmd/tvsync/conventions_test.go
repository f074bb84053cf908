package main

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/seed"
)

// commandPaths lists every command of the tvsync binary, as the words after
// "tvsync" ("sync", "migrate up", ...), the help command excepted.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := newCLI().Command()
	var paths [][]string
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		for _, sub := range cmd.Commands() {
			if sub.Name() == "help" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	require.GreaterOrEqual(t, len(paths), 20, "every command, subcommands included")
	return paths
}

func TestCLI_HelpExitsZeroForEveryCommand(t *testing.T) {
	t.Parallel()
	for _, path := range append([][]string{{}}, commandPaths(t)...) {
		for _, args := range [][]string{
			append(append([]string{}, path...), "--help"),
			append(append([]string{}, path...), "-h"),
			append([]string{"help"}, path...),
		} {
			code, out, errOut := runBinary(t, nil, nil, args...)
			assert.Equal(t, 0, code, "%v: %s", args, errOut)
			assert.Empty(t, errOut, args)
			assert.Contains(t, out, "Usage:\n  tvsync", args)
			assert.NotContains(t, out, "no database", args)
		}
	}
}

// countingListener accepts TCP connections on a free local port and counts
// them, closing each at once: a URL pointing at it proves whether a command
// tried to connect.
func countingListener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
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
	return ln.Addr().String(), accepted
}

func TestCLI_UsageErrorsExitTwoBeforeConnecting(t *testing.T) {
	t.Parallel()
	addr, accepted := countingListener(t)
	url := "postgres://app:s3cr3tPassw0rd@" + addr + "/prod"
	const id = "5b7c1c1e-8a4e-4a43-9a57-2f5c8d4c9a11"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "tvsync: missing command"},
		{[]string{"bogus"}, `tvsync: unknown command "bogus"`},
		{[]string{"--bogus"}, "tvsync: unknown flag: --bogus"},
		{[]string{"--log-level", "loud", "status"}, `tvsync status: --log-level "loud": want debug, info, warn or error`},
		{[]string{"--progress", "fancy", "status"}, `tvsync status: --progress "fancy": want auto, bar, log or none`},
		{[]string{"sync", "--entity", "post", "--ids", id, "--mode", "bogus"}, `tvsync sync: --mode "bogus": want incremental or repair`},
		{[]string{"sync", "--entity", "post", "--ids", id, "--mode", "full"}, `tvsync sync: --mode "full": want incremental or repair (a full sync is --all)`},
		{[]string{"sync", "--entity", "post", "--all", "--mode", "repair"}, `tvsync sync: --mode "repair": --all always runs a full sync`},
		{[]string{"sync", "--entity", "post"}, "tvsync sync: give exactly one of --ids (or --ids-file) and --all"},
		{[]string{"sync", "--entity", "post", "--all", "--ids", id}, "tvsync sync: give exactly one of --ids (or --ids-file) and --all"},
		{[]string{"sync", "--ids", id}, "tvsync sync: --entity is required (or --all without it, for every entity)"},
		{[]string{"sync", "--entity", "postz", "--all"}, `tvsync sync: --entity "postz": unknown entity (registered: comment, post, user)`},
		{[]string{"sync", "--entity", "post", "--ids", "not-a-uuid"}, `"not-a-uuid" is not a uuid (the key of entity "post")`},
		{[]string{"sync", "--entity", "post", "--ids-file", "/nonexistent/ids"}, "tvsync sync: --ids-file: open /nonexistent/ids: no such file or directory"},
		{[]string{"sync", "--entity", "post", "--all", "--workers", "-1"}, "tvsync sync: --workers -1: want 0 to 1024"},
		{[]string{"sync", "--entity", "post", "--all", "--chunk", "2000000000"}, "tvsync sync: --chunk 2000000000: want 0 to 1000000"},
		{[]string{"sync", "--entity", "post", "--all", "extra"}, `tvsync sync: unexpected arguments ["extra"]`},
		{[]string{"worker", "--batch", "0"}, "tvsync worker: --batch 0: want 1 to 10000"},
		{[]string{"worker", "--batch", "-5"}, "tvsync worker: --batch -5: want 1 to 10000"},
		{[]string{"worker", "--batch", "2000000000"}, "tvsync worker: --batch 2000000000: want 1 to 10000"},
		{[]string{"worker", "--poll", "0s"}, "tvsync worker: --poll 0s: want 10ms to 1h0m0s"},
		{[]string{"worker", "--poll", "-1s"}, "tvsync worker: --poll -1s: want 10ms to 1h0m0s"},
		{[]string{"worker", "--max-attempts", "0"}, "tvsync worker: --max-attempts 0: want 1 to 1000"},
		{[]string{"worker", "--max-attempts", "-3"}, "tvsync worker: --max-attempts -3: want 1 to 1000"},
		{[]string{"worker", "--once", "--metrics-addr", "127.0.0.1:notaport"}, `tvsync worker: --metrics-addr "127.0.0.1:notaport"`},
		{[]string{"seed", "--users", "9223372036854775807"}, "tvsync seed: --users 9223372036854775807: want 0 to 10000000"},
		{[]string{"seed", "--comments", "-1"}, "tvsync seed: --comments -1: want 0 to 10000000"},
		{[]string{"seed", "--users", "0", "--posts", "5"}, "tvsync seed: --posts 5 needs --users above 0: posts need authors"},
		{[]string{"seed", "--posts", "0", "--comments", "5"}, "tvsync seed: --comments 5 needs --posts above 0"},
		{[]string{"seed", "--users", "2", "--posts", "2", "--likes", "5"}, "tvsync seed: --likes 5: want at most --users × --posts = 4 distinct pairs"},
		{[]string{"demo", "--users", "-1"}, "tvsync demo: --users -1: want 0 to 10000000"},
		{[]string{"verify", "--format", "xml"}, `tvsync verify: --format "xml": want table or json`},
		{[]string{"verify", "--entity", "postz"}, `tvsync verify: --entity "postz": unknown entity`},
		{[]string{"status", "--format", "yaml"}, `tvsync status: --format "yaml": want table or json`},
		{[]string{"queue"}, "tvsync queue: missing subcommand: want retry"},
		{[]string{"queue", "purge"}, `tvsync queue: unknown subcommand "purge": want retry`},
		{[]string{"queue", "retry", "--format", "csv"}, `tvsync queue retry: --format "csv": want table or json`},
		{[]string{"sync-log"}, "tvsync sync-log: missing subcommand: want prune"},
		{[]string{"sync-log", "prune"}, "tvsync sync-log prune: --older-than is required"},
		{[]string{"migrate"}, "tvsync migrate: missing subcommand: want down, redo, status, up"},
		{[]string{"migrate", "sideways"}, `tvsync migrate: unknown subcommand "sideways"`},
		{[]string{"migrate", "down", "--set", "nope"}, `tvsync migrate down: --set "nope": unknown migration set (sets: tvsync, blog)`},
		{[]string{"rebuild"}, "tvsync rebuild: --entity is required"},
		{[]string{"rebuild", "--entity", "post", "--lock-timeout", "0s"}, "tvsync rebuild: --lock-timeout 0s: want more than 0"},
		{[]string{"explain", "--ids", "0"}, "tvsync explain: --ids 0: want 1 to 1000000"},
		{[]string{"explain", "--entity", "postz"}, `tvsync explain: --entity "postz": unknown entity`},
		{[]string{"triggers", "--apply", "a", "--rollback", "a"}, "tvsync triggers: give at most one of --apply and --rollback"},
		{[]string{"triggers", "--apply", "/nonexistent"}, "tvsync triggers: --apply /nonexistent: not a directory"},
	} {
		args := append([]string{"--database-url", url}, tc.args...)
		code, out, errOut := runBinary(t, nil, nil, args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, errOut)
		assert.Empty(t, out, tc.args)
		assert.Contains(t, errOut, tc.want, tc.args)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		assert.Len(t, lines, 2, "%v: one line of error, one pointing at the help: %s", tc.args, errOut)
		assert.Regexp(t, `^Run 'tvsync( [a-z-]+)* --help' for usage\.$`, lines[len(lines)-1], tc.args)
		assert.NotContains(t, strings.ToLower(errOut), "usage: usage", tc.args)
		assert.NotContains(t, errOut, ": tvsync:", "%v: no nested prefix", tc.args)
		assert.NotContains(t, errOut, "s3cr3tPassw0rd", tc.args)
	}
	assert.Zero(t, accepted.Load(), "no usage error may connect to the database")
}

func TestCLI_RuntimeFailureExitsOne(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more
	code, out, errOut := runBinary(t, nil, nil, "--database-url", "postgres://app:s3cr3tPassw0rd@"+addr+"/prod", "status")
	assert.Equal(t, 1, code, errOut)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "tvsync status: connect to 127.0.0.1:")
	assert.NotContains(t, errOut, "Run 'tvsync")
	assert.NotContains(t, errOut, "s3cr3tPassw0rd")
}

func TestCLI_InterruptExits130WithOneLine(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url, pool := statsDB(t)
			seedSmall(t, pool)
			// The full sync blocks on tv_comment's lock until the signal.
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, "LOCK TABLE tv_comment IN ACCESS EXCLUSIVE MODE")
			require.NoError(t, err)

			cmd := binaryCommand(ctx, t, nil, "--database-url", url, "sync", "--entity", "comment", "--all")
			var out, errOut lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			require.NoError(t, cmd.Start())
			waitForLockWait(t, pool)
			require.NoError(t, cmd.Process.Signal(sig))
			_ = cmd.Wait()

			assert.Equal(t, 130, cmd.ProcessState.ExitCode(), errOut.String())
			assert.Equal(t, "tvsync sync: interrupted\n", errOut.String())
		})
	}
}

// waitForLockWait waits until another backend of pool's database waits
// for a lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	waitFor(t, "a backend waiting for a lock", func() bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&n))
		return n > 0
	})
}

// seedSmall loads a small data set into the command tables.
func seedSmall(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := seed.Load(context.Background(), pool, seed.Options{Users: 30, Posts: 200, Comments: 600, Likes: 100})
	require.NoError(t, err)
}

// secret is the password of the database URLs of the redaction tests.
const secret = "s3cr3tPassw0rd"

func TestCLI_NeverPrintsThePassword(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			url, _ := statsDB(t)
			url = withPassword(t, url, secret)
			require.Contains(t, url, ":"+secret+"@")
			run := func(args ...string) (int, string) {
				t.Helper()
				var env []string
				if how == "flag" {
					args = append([]string{"--database-url", url}, args...)
				} else {
					env = []string{"DATABASE_URL=" + url}
				}
				code, out, errOut := runBinary(t, env, strings.NewReader(""), append([]string{"--log-level", "debug"}, args...)...)
				assert.NotContains(t, out+errOut, secret, "%v printed the password", args)
				return code, out + errOut
			}
			id := "5b7c1c1e-8a4e-4a43-9a57-2f5c8d4c9a11"
			for _, args := range [][]string{
				{"--help"}, {"sync", "--help"}, {"worker", "-h"}, {"help", "migrate", "down"},
				{"migrate", "status"},
				{"migrate", "up"},
				{"seed", "--users", "20", "--posts", "50", "--comments", "100", "--likes", "10"},
				{"sync", "--entity", "post", "--all"},
				{"sync", "--entity", "post", "--ids", id},
				{"verify"},
				{"verify", "--repair", "--format", "json"},
				{"rebuild", "--entity", "user"},
				{"explain", "--entity", "user", "--ids", "5"},
				{"status"},
				{"status", "--format", "json"},
				{"stats"},
				{"stats", "--format", "json"},
				{"queue", "retry"},
				{"sync-log", "prune", "--older-than", "1h"},
				{"triggers"},
				{"worker", "--once"},
				{"demo", "--users", "5", "--posts", "10", "--comments", "20", "--likes", "5"},
				{"migrate", "redo", "--set", "blog"},
				{"migrate", "down", "--set", "blog"},
			} {
				code, out := run(args...)
				assert.Equal(t, 0, code, "%v: %s", args, out)
			}

			// The worker until SIGTERM, serving metrics.
			var env []string
			args := []string{"--log-level", "debug", "worker", "--metrics-addr", "127.0.0.1:0", "--poll", "50ms"}
			if how == "flag" {
				args = append([]string{"--database-url", url}, args...)
			} else {
				env = []string{"DATABASE_URL=" + url}
			}
			cmd := binaryCommand(context.Background(), t, env, args...)
			var out, errOut lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			require.NoError(t, cmd.Start())
			waitFor(t, "the worker to start", func() bool { return strings.Contains(errOut.String(), "worker started") })
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			_ = cmd.Wait()
			assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "SIGTERM stops the worker cleanly: %s", errOut.String())
			assert.NotContains(t, out.String()+errOut.String(), secret)

			// Failures: a server that is gone, a malformed URL.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			gone := "postgres://app:" + secret + "@" + ln.Addr().String() + "/prod"
			require.NoError(t, ln.Close())
			for _, bad := range []string{gone, "postgres://app:" + secret + "@127.0.0.1:notaport/prod", "host=127.0.0.1 port=notaport password=" + secret} {
				url = bad
				for _, args := range [][]string{{"status"}, {"sync", "--entity", "post", "--all"}, {"migrate", "up"}, {"worker", "--once"}, {"seed"}} {
					code, out := run(args...)
					assert.NotEqual(t, 0, code, "%v on %s: %s", args, bad, out)
				}
			}
		})
	}
}
