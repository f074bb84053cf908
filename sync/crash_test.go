package sync_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The crash tests re-run this test binary as a child process (see TestMain)
// that commits writes and is then killed with SIGKILL before it syncs.
const (
	crashChildEnv   = "TVSYNC_CRASH_CHILD" // the child's sync mode: "deferred" or "after-commit"
	crashURLEnv     = "TVSYNC_CRASH_URL"
	crashWritesEnv  = "TVSYNC_CRASH_WRITES"
	crashCommitLine = "committed"
)

// crashChild is the child side: it commits writes, says so on stdout, and
// waits to be killed. In after-commit mode its sync is held by the gate (its
// sessions are gated), so it dies after the commit and before the sync.
func crashChild() int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv(crashURLEnv))
	if err != nil {
		return fail(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = gatedApp
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	mode := syncuow.Deferred
	if os.Getenv(crashChildEnv) == "after-commit" {
		mode = syncuow.AfterCommit
	}
	repo := repository.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), repository.Options{Sync: mode, AfterCommitGrace: 100 * time.Millisecond})
	n, _ := strconv.Atoi(os.Getenv(crashWritesEnv))
	for i := range n {
		err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			u, err := uow.CreateUser(ctx, fmt.Sprintf("crash_%d", i), "")
			if err != nil {
				return err
			}
			p, err := uow.CreatePost(ctx, u, fmt.Sprintf("crash post %d", i), "", true)
			if err != nil {
				return err
			}
			_, err = uow.AddComment(ctx, p, u, "before the crash")
			return err
		})
		if err != nil {
			return fail(err)
		}
	}
	fmt.Println(crashCommitLine, n)
	select {} // wait for SIGKILL
}

func countRows(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

// TestCrash_KilledBeforeSyncLosesNothing: a child process commits writes in
// deferred mode, or in after-commit mode with its sync held, and is killed
// with SIGKILL before it syncs; a worker started afterwards brings the drift
// to zero.
func TestCrash_KilledBeforeSyncLosesNothing(t *testing.T) {
	for _, mode := range []string{"deferred", "after-commit"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			pool, _, url := twoPools(t)
			g := installGate(t, pool, url)
			g.close()
			writes := 5
			if mode == "after-commit" {
				writes = 1 // its first sync is held, so it commits one unit of work
			}

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+mode, crashURLEnv+"="+url, crashWritesEnv+"="+strconv.Itoa(writes))
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			killed := false
			t.Cleanup(func() {
				if !killed {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})

			if mode == "deferred" {
				line, err := bufio.NewReader(stdout).ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf("%s %d", crashCommitLine, writes), strings.TrimSpace(line))
			} else {
				eventually(t, "the child committed and its sync is held", func() bool {
					return countRows(t, pool, "SELECT count(*) FROM tb_comment") == 1 && g.waiting(true) == 1
				})
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			killed = true
			// The dead client's backend ends once it can run again; end it now.
			_, err = pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", gatedApp)
			require.NoError(t, err)
			g.open()
			eventually(t, "the child's sessions are gone", func() bool {
				return countRows(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gated'") == 0
			})

			assert.Equal(t, writes, countRows(t, pool, "SELECT count(*) FROM tb_post"), "the writes committed")
			assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tv_post"), "and were never synced")
			diff, err := expect.Check(ctx, pool)
			require.NoError(t, err)
			require.NotEmpty(t, diff, "the crash left drift")
			assert.Equal(t, 3*writes, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "but every change is queued")

			engine := blog.MustNewEngine(pool, tvsync.Config{})
			w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{}))
			eventually(t, "a worker drained the queue", func() bool {
				_, err := w.Drain(ctx)
				require.NoError(t, err)
				return countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue") == 0
			})
			diff, err = expect.Check(ctx, pool)
			require.NoError(t, err)
			assert.Empty(t, diff)
			for _, entity := range engine.Entities() {
				res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{})
				require.NoError(t, err)
				assert.Zero(t, res.Drifted(), entity)
			}
		})
	}
}

// TestWorker_KilledBackendMidBatchIsRetried terminates the worker's backend
// with pg_terminate_backend while its batch is inside the sync; the items
// are kept with the failed attempt recorded, retried, and drift ends at zero.
func TestWorker_KilledBackendMidBatchIsRetried(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Deferred})
	var postIDs []uuid.UUID
	for i := range 4 {
		require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			u, err := uow.CreateUser(ctx, fmt.Sprintf("kb_%d", i), "")
			if err != nil {
				return err
			}
			p, err := uow.CreatePost(ctx, u, "queued", "", true)
			postIDs = append(postIDs, p)
			return err
		}))
	}
	queued := countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue")
	require.Equal(t, 8, queued)

	g := installGate(t, pool, url)
	g.close()
	gatedWorker := must(tvsync.NewWorker(blog.MustNewEngine(gatedPool, tvsync.Config{}), gatedPool, tvsync.WorkerConfig{MaxBackoff: 50 * time.Millisecond}))
	done := make(chan error, 1)
	go func() {
		_, err := gatedWorker.DrainOnce(ctx)
		done <- err
	}()
	eventually(t, "the worker's batch is inside its sync", func() bool { return g.waiting(true) == 1 })
	var terminated bool
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'gated' AND wait_event = 'advisory'`).Scan(&terminated))
	require.True(t, terminated)
	err := <-done
	require.Error(t, err, "the batch failed with its connection")
	g.open()

	assert.Equal(t, queued, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "no item was lost")
	assert.Equal(t, queued, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE attempts = 1 AND last_error <> '' AND NOT dead"), "each records the failed attempt")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tv_post"))

	eventually(t, "the retry drained the queue", func() bool {
		_, err := gatedWorker.Drain(ctx)
		require.NoError(t, err)
		return countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue") == 0
	})
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}
