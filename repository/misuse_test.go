package repository_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// usersNamed counts the tb_user rows with the given username.
func usersNamed(t *testing.T, b bundle, username string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM tb_user WHERE username = $1", username).Scan(&n))
	return n
}

// TestUnitOfWork_UseAfterInTxReturnsFails keeps the unit of work past its
// InTx, in every mode, and writes through it and through its transaction:
// both must fail with ErrUnitOfWorkDone and nothing may land in tb_user
// (the transaction was committed through a pipeline that pgx does not see,
// so the connection, back in the pool, would otherwise run the write on its
// own, unsynced and unqueued).
func TestUnitOfWork_UseAfterInTxReturnsFails(t *testing.T) {
	t.Parallel()
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, mode)
			var kept *repository.UnitOfWork
			require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				kept = uow
				_, err := uow.CreateUser(ctx, "inside", "Inside")
				return err
			}))
			require.Equal(t, 1, usersNamed(t, b, "inside"))

			_, err := kept.CreateUser(ctx, "late", "Late")
			require.ErrorIs(t, err, repository.ErrUnitOfWorkDone)
			_, err = kept.Tx().Exec(ctx, "INSERT INTO tb_user (username) VALUES ('late_exec')")
			require.ErrorIs(t, err, repository.ErrUnitOfWorkDone)
			var id uuid.UUID
			err = kept.Tx().QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('late_row') RETURNING id").Scan(&id)
			require.ErrorIs(t, err, repository.ErrUnitOfWorkDone)
			require.ErrorIs(t, kept.Tx().Commit(ctx), repository.ErrUnitOfWorkDone)

			for _, name := range []string{"late", "late_exec", "late_row"} {
				assert.Zero(t, usersNamed(t, b, name), "%s: a write after InTx returned must not land in tb_user", name)
			}
			// The repository still works, and nothing drifted.
			require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				_, err := uow.CreateUser(ctx, "after", "After")
				return err
			}))
			if mode != syncuow.Deferred {
				assertNoDrift(t, b.pool)
			}
		})
	}
}

// TestUnitOfWork_WriteFromGoroutineLeftBehindFails starts a write from a
// goroutine fn does not wait for; it runs after fn has returned and must
// fail, not commit on its own.
func TestUnitOfWork_WriteFromGoroutineLeftBehindFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	start := make(chan struct{})
	result := make(chan error, 1)
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		go func() {
			<-start
			_, err := uow.CreateUser(ctx, "straggler", "Straggler")
			result <- err
		}()
		_, err := uow.CreateUser(ctx, "inside", "Inside")
		return err
	}))
	close(start)
	require.ErrorIs(t, <-result, repository.ErrUnitOfWorkDone)
	assert.Zero(t, usersNamed(t, b, "straggler"))
	assertNoDrift(t, b.pool)
}

// TestInTx_NilFunctionIsAnError: InTx(ctx, nil) returns ErrInvalid instead
// of panicking, and leaves no connection in a transaction.
func TestInTx_NilFunctionIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	require.ErrorIs(t, b.repo.InTx(ctx, nil), repository.ErrInvalid)
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		_, err := uow.CreateUser(ctx, "ok", "OK")
		return err
	}))
	assert.Equal(t, 1, usersNamed(t, b, "ok"))
}

// TestUnitOfWork_TextPostgreSQLCannotStoreIsInvalid sends a NUL byte or
// invalid UTF-8 in each text a unit of work writes: every write fails with
// ErrInvalid naming the field (not blaming the author or the post), and the
// unit of work writes nothing.
func TestUnitOfWork_TextPostgreSQLCannotStoreIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var author, post uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if author, err = uow.CreateUser(ctx, "author", "Author"); err != nil {
			return err
		}
		post, err = uow.CreatePost(ctx, author, "Title", "Body", true)
		return err
	}))
	const nul, bad = "a\x00b", "caf\xe9" // latin-1 é: not UTF-8
	cases := []struct {
		name, field string
		write       func(uow *repository.UnitOfWork) error
		innocent    uuid.UUID // a row the error must not blame
	}{
		{"create user, NUL in username", "username", func(uow *repository.UnitOfWork) error {
			_, err := uow.CreateUser(ctx, nul, "x")
			return err
		}, uuid.Nil},
		{"create user, bad UTF-8 in full name", "full name", func(uow *repository.UnitOfWork) error {
			_, err := uow.CreateUser(ctx, "fine", bad)
			return err
		}, uuid.Nil},
		{"rename user, bad UTF-8 in username", "username", func(uow *repository.UnitOfWork) error {
			return uow.RenameUser(ctx, author, bad, "x")
		}, uuid.Nil},
		{"create post, NUL in title", "title", func(uow *repository.UnitOfWork) error {
			_, err := uow.CreatePost(ctx, author, nul, "body", true)
			return err
		}, author},
		{"create post, bad UTF-8 in title", "title", func(uow *repository.UnitOfWork) error {
			_, err := uow.CreatePost(ctx, author, bad, "body", true)
			return err
		}, author},
		{"create post, NUL in content", "content", func(uow *repository.UnitOfWork) error {
			_, err := uow.CreatePost(ctx, author, "title", nul, true)
			return err
		}, author},
		{"update post, bad UTF-8 in content", "content", func(uow *repository.UnitOfWork) error {
			return uow.UpdatePost(ctx, post, "title", bad)
		}, uuid.Nil},
		{"add comment, NUL in content", "content", func(uow *repository.UnitOfWork) error {
			_, err := uow.AddComment(ctx, post, author, nul)
			return err
		}, author},
	}
	for _, c := range cases {
		err := b.repo.InTx(ctx, c.write)
		require.ErrorIs(t, err, repository.ErrInvalid, c.name)
		assert.Contains(t, err.Error(), c.field, c.name)
		if c.innocent != uuid.Nil {
			assert.NotContains(t, err.Error(), c.innocent.String(), "%s: the author is not at fault", c.name)
		}
		assert.NotContains(t, err.Error(), "(22021)", c.name)
	}
	var users, posts, comments int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM tb_user), (SELECT count(*) FROM tb_post), (SELECT count(*) FROM tb_comment)").Scan(&users, &posts, &comments))
	assert.Equal(t, []int{1, 1, 0}, []int{users, posts, comments}, "no invalid write landed")
	raw, err := b.repo.GetPost(ctx, post)
	require.NoError(t, err)
	assert.Equal(t, "Title", decode(t, raw)["title"])
	assertNoDrift(t, b.pool)
}

// TestListPosts_FirstPageStartsAtTheAllZeroID: the first page, from the
// cursor uuid.Nil, includes a post whose id is uuid.Nil.
func TestListPosts_FirstPageStartsAtTheAllZeroID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	_, err := b.pool.Exec(ctx, `
		INSERT INTO tb_user (id, username) VALUES ('00000000-0000-0000-0000-000000000000', 'zero');
		INSERT INTO tb_post (id, author_id, title) VALUES ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', 'zero'),
			(gen_random_uuid(), '00000000-0000-0000-0000-000000000000', 'other')`)
	require.NoError(t, err)
	_, err = b.engine.FullSync(ctx, "post", tvsync.FullOptions{})
	require.NoError(t, err)
	docs, err := b.repo.ListPosts(ctx, uuid.Nil, 10)
	require.NoError(t, err)
	require.Len(t, docs, 2)
	assert.Equal(t, uuid.Nil, docs[0].ID)
	next, err := b.repo.ListPosts(ctx, docs[1].ID, 10)
	require.NoError(t, err)
	assert.Empty(t, next)
}
