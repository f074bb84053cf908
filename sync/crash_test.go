package sync_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The crash tests re-run this test binary as a child process (see TestMain)
// that commits writes and is then killed with SIGKILL before it syncs.
const (
	crashChildEnv   = "TVSYNC_CRASH_CHILD" // the child's sync mode: "deferred", "after-commit" or crashWakeHeld
	crashURLEnv     = "TVSYNC_CRASH_URL"
	crashWritesEnv  = "TVSYNC_CRASH_WRITES"
	crashCommitLine = "committed"
)

// crashChild is the child side: it commits writes, says so on stdout, and
// waits to be killed. In after-commit mode its sync is held by the gate (its
// sessions are gated), so it dies after the commit and before the sync.
func crashChild() int {
	if os.Getenv(crashChildEnv) == crashWakeHeld {
		return crashChildWakeHeld()
	}
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

// The suppressed wake-up's crash test: its child's mode, the key its engine
// and the parent's share (so that the parent reads its tokens), and what it
// writes on stdout.
const (
	crashWakeHeld  = "wake-held"
	crashTokenLine = "token" // "token <Token.String> <rows queued>", one per unit of work
)

var crashTokenKey = []byte("crash-test-token-key-0123456789ab")

// crashChildWakeHeld is the child side of
// TestCrash_SuppressedWakeUpLosesNothing. It writes a seed synced inline,
// then commits deferred units of work (several entities, and cascades that
// only a worker's expansion brings to the seed's documents), each with its
// queue rows in its write transaction and no NOTIFY in it. Its engine holds
// every wake-up it asks for after a commit (SetWakeUpSendForTest: the first
// send blocks until the process dies, the next would wait NotifyInterval,
// an hour), so none is ever sent. It writes each unit of work's token and
// row count, waits until a wake-up is held, says so, and waits for SIGKILL.
func crashChildWakeHeld() int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	pool, err := pgxpool.New(ctx, os.Getenv(crashURLEnv))
	if err != nil {
		return fail(err)
	}
	engine := blog.MustNewEngine(pool, tvsync.Config{NotifyInterval: time.Hour, TokenKey: crashTokenKey})
	held := make(chan struct{})
	var once gosync.Once
	tvsync.SetWakeUpSendForTest(engine, func(context.Context) error {
		once.Do(func() { close(held) })
		select {} // held until the process is killed
	})
	deferred := repository.New(pool, engine, repository.Options{Sync: syncuow.Deferred})

	// The seed, synced in its transaction: tv_ documents that only the
	// cascades of the deferred renames below make stale.
	var author, seedPost uuid.UUID
	err = deferred.WithTiming(syncuow.Inline).InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if author, err = uow.CreateUser(ctx, "crash_author", "Before"); err != nil {
			return err
		}
		if seedPost, err = uow.CreatePost(ctx, author, "seed post", "", true); err != nil {
			return err
		}
		_, err = uow.AddComment(ctx, seedPost, author, "seed comment")
		return err
	})
	if err != nil {
		return fail(err)
	}

	// unit runs fn as a deferred unit of work and writes its token and how
	// many queue rows it committed (one per id of each recorded change).
	total := 0
	unit := func(fn func(uow *repository.UnitOfWork) error) error {
		rows := 0
		tok, err := deferred.InTxToken(ctx, func(uow *repository.UnitOfWork) error {
			if err := fn(uow); err != nil {
				return err
			}
			for _, c := range uow.Changes() {
				rows += len(c.IDs)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if tok.Reached() {
			return fmt.Errorf("a deferred unit of work that queued %d rows returned a reached token", rows)
		}
		total += rows
		fmt.Println(crashTokenLine, tok.String(), rows)
		return nil
	}
	n, _ := strconv.Atoi(os.Getenv(crashWritesEnv))
	var posts []uuid.UUID
	for i := range n {
		err := unit(func(uow *repository.UnitOfWork) error {
			u, err := uow.CreateUser(ctx, fmt.Sprintf("crash_%d", i), "")
			if err != nil {
				return err
			}
			p, err := uow.CreatePost(ctx, u, fmt.Sprintf("crash post %d", i), "", true)
			if err != nil {
				return err
			}
			posts = append(posts, p)
			if _, err := uow.AddComment(ctx, p, author, "on a new post"); err != nil {
				return err
			}
			if _, err := uow.AddComment(ctx, seedPost, u, "on the seed post"); err != nil {
				return err
			}
			return uow.LikePost(ctx, seedPost, u)
		})
		if err != nil {
			return fail(err)
		}
	}
	// Cascades: the author's name is in their post, their comments and the
	// posts they commented on; the seed post's title in its comments.
	err = unit(func(uow *repository.UnitOfWork) error {
		if err := uow.RenameUser(ctx, author, "crash_author_renamed", "After"); err != nil {
			return err
		}
		return uow.UpdatePost(ctx, seedPost, "seed post, renamed", "")
	})
	if err != nil {
		return fail(err)
	}
	err = unit(func(uow *repository.UnitOfWork) error {
		for _, p := range posts {
			if err := uow.UpdatePost(ctx, p, "renamed", "after the crash"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	select {
	case <-held:
	case <-time.After(time.Minute):
		return fail(errors.New("no wake-up was asked for after the deferred commits"))
	}
	fmt.Println(crashCommitLine, total)
	select {} // wait for SIGKILL
}

// TestCrash_SuppressedWakeUpLosesNothing is issue 21's crash test of the
// notify-suppression path: a deferred commit sends no NOTIFY in its
// transaction, and the engine's wake-up after it is only a hint. A child
// process commits deferred units of work (several entities, cascades) whose
// wake-ups its engine holds, and is killed with SIGKILL at once: it dies
// after its commits and before any wake-up is sent. A LISTEN opened before
// the child starts proves that none was (it cannot be sent later: the
// process is gone; the short wait only makes the test slower if it breaks).
// Nothing is lost all the same: every queue row committed with its write,
// and a worker that no NOTIFY reaches takes them by itself (Run drains when
// it starts and at each poll, every PollInterval). That is the
// documented bound for a row whose wake-up was lost (README, "Deferred
// mode"; Config.NotifyInterval; WorkerConfig.PollInterval): a running
// worker syncs it within its PollInterval of the commit, plus the batch
// ahead of it. The child's tokens, read back here, are reached once the
// worker has drained them and their cascades' rows, never stalled or timed
// out; drift ends at zero by the engine's Verify, by the Source views and
// by the independent expectation, and the queue is empty.
func TestCrash_SuppressedWakeUpLosesNothing(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	engine := blog.MustNewEngine(pool, tvsync.Config{TokenKey: crashTokenKey})
	listener, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = listener.Close(context.Background()) })
	_, err = listener.Exec(ctx, "LISTEN "+pgx.Identifier{engine.QueueChannel()}.Sanitize())
	require.NoError(t, err)

	const writes = 4
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+crashWakeHeld, crashURLEnv+"="+url, crashWritesEnv+"="+strconv.Itoa(writes))
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
	var tokens []tvsync.Token
	rows := 0
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 3 && f[0] == crashTokenLine {
			tok, err := engine.ParseToken(f[1])
			require.NoError(t, err, "the child's token %q", f[1])
			tokens = append(tokens, tok)
			rows += must(strconv.Atoi(f[2]))
			continue
		}
		require.Equal(t, []string{crashCommitLine, strconv.Itoa(rows)}, f, "the child's last line")
		break
	}
	require.NoError(t, lines.Err())
	require.Len(t, tokens, writes+2, "one token per deferred unit of work, and the child committed them all")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed = true

	// The suppressed path: no NOTIFY was sent, in the write transactions
	// or after them.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	n, err := listener.WaitForNotification(wctx)
	cancel()
	require.Error(t, err, "a wake-up arrived: %+v", n)
	require.True(t, pgconn.Timeout(err), "waiting for a wake-up: %v", err)

	// Every queue row committed with its write; nothing synced them.
	assert.Equal(t, rows, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "every queue row the child committed is there")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE dead OR attempts > 0"))
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	require.NotEmpty(t, diff, "the deferred writes left drift")
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	res, err := engine.WaitFor(tctx, tokens[len(tokens)-1])
	cancel()
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitTimedOut, res.Status, "no worker runs yet: a token is not reached")

	// A worker that no NOTIFY reaches: it finds the rows by itself, when it
	// starts and at its polls.
	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{PollInterval: 20 * time.Millisecond}))
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	var runErr error
	stopped := false
	stopWorker := func() error {
		if !stopped {
			stopped = true
			stop()
			runErr = <-ran
		}
		return runErr
	}
	t.Cleanup(func() { _ = stopWorker() })
	for i, tok := range tokens {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := engine.WaitFor(wctx, tok)
		cancel()
		require.NoError(t, err, "token %d", i)
		require.Equal(t, tvsync.WaitReached, res.Status, "token %d: %+v", i, res)
	}
	require.NoError(t, stopWorker(), "the worker's Run")

	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "the tokens were reached: their rows and their cascades' are synced")
	diff, err = expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
	for _, name := range engine.Entities() {
		res, err := engine.Verify(ctx, name, tvsync.VerifyOptions{})
		require.NoError(t, err)
		assert.Zero(t, res.Drifted(), name)
		ent, err := engine.Entity(name)
		require.NoError(t, err)
		assert.Zero(t, countRows(t, pool, fmt.Sprintf(
			"SELECT count(*) FROM %s v FULL JOIN %s s USING (id) WHERE v.data IS DISTINCT FROM s.data",
			ent.View, ent.Source)), "%s against %s", ent.View, ent.Source)
	}
	assert.Equal(t, writes+1, countRows(t, pool, "SELECT count(*) FROM tv_post"))
	assert.Equal(t, writes+1, countRows(t, pool, "SELECT count(*) FROM tv_comment WHERE data->'author'->>'username' = 'crash_author_renamed'"),
		"the rename's cascade reached the seed's comment and the new ones")
	assert.Equal(t, writes+1, countRows(t, pool, "SELECT count(*) FROM tv_comment WHERE data->'post'->>'title' = 'seed post, renamed'"),
		"the title's cascade reached the comments on the seed post")
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
