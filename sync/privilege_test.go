package sync_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// readmeGrants returns the grants the README documents for the application
// role: the sql block of its "Least privilege" section and the two marked
// blocks (tvsync's objects, the blog's tables) it refers to, for role and
// database.
func readmeGrants(t *testing.T, role, database string) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(raw)
	_, section, ok := strings.Cut(readme, "\n## Least privilege\n")
	require.True(t, ok, "README.md has a Least privilege section")
	blocks := []string{sqlBlock(t, section)}
	for _, marker := range []string{"<!-- grants:tvsync:begin -->", "<!-- grants:blog:begin -->"} {
		_, rest, ok := strings.Cut(readme, marker)
		require.True(t, ok, "README.md has %s", marker)
		blocks = append(blocks, sqlBlock(t, rest))
	}
	all := strings.Join(blocks, "\n")
	require.Contains(t, all, " app;")
	all = strings.ReplaceAll(all, " app;", " "+pgx.Identifier{role}.Sanitize()+";")
	all = strings.ReplaceAll(all, "ROLE app ", "ROLE "+pgx.Identifier{role}.Sanitize()+" ")
	all = strings.ReplaceAll(all, "'app'", "'"+strings.ReplaceAll(role, "'", "''")+"'")
	return strings.ReplaceAll(all, "appdb", pgx.Identifier{database}.Sanitize())
}

// sqlBlock returns the first sql code block of text.
func sqlBlock(t *testing.T, text string) string {
	t.Helper()
	_, block, ok := strings.Cut(text, "```sql\n")
	require.True(t, ok, "an sql block")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	return block
}

// TestLeastPrivilege_AppRoleWorksInEveryModeBeforeAndAfterRebuild creates an
// application role with no privilege, takes away what PostgreSQL grants to
// PUBLIC by default on the database, the schema, tvsync.ts and the blog's
// post document functions, and applies exactly the grants the README
// documents. Connected as that role, units of
// work in every sync mode and the Worker must work; the owner then rebuilds
// every tv_ table, and they must still work. Every tv_ row must match the
// independent recomputation and nothing may be left queued. Before the fix
// the rebuild replaced the tables with new ones the role had no grant on.
func TestLeastPrivilege_AppRoleWorksInEveryModeBeforeAndAfterRebuild(t *testing.T) {
	ctx := context.Background()
	owner, ownerEngine := seeded(t, seed.Options{Users: 20, Posts: 600, Comments: 600, Likes: 200})
	role, roleURL := createLoginRole(t, owner, "tvsync_app")
	dbName := databaseName(t, owner)
	su := superuserPool(t, owner)
	_, err := su.Exec(ctx, fmt.Sprintf(`
		REVOKE ALL ON DATABASE %s FROM PUBLIC;
		REVOKE ALL ON SCHEMA public FROM PUBLIC;
		REVOKE ALL ON FUNCTION tvsync.ts(timestamptz), public.post_document, public.post_comment_element FROM PUBLIC;`, pgx.Identifier{dbName}.Sanitize()))
	require.NoError(t, err)
	_, err = su.Exec(ctx, readmeGrants(t, role, dbName))
	require.NoError(t, err)

	app := rolePool(t, roleURL)
	var who string
	require.NoError(t, app.QueryRow(ctx, "SELECT current_user").Scan(&who))
	require.Equal(t, role, who)
	engine := blog.MustNewEngine(app, tvsync.Config{})
	worker := must(tvsync.NewWorker(engine, app, tvsync.WorkerConfig{}))
	users := listIDs(t, owner, "SELECT id FROM tb_user ORDER BY id")

	round := func(label string) {
		for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
			name := fmt.Sprintf("%s %s", label, mode)
			repo := repository.New(app, engine, repository.Options{Sync: mode})
			var user, post, comment uuid.UUID
			step := func(what string, fn func(uow *repository.UnitOfWork) error) {
				t.Helper()
				require.NoError(t, repo.InTx(ctx, fn), "%s: %s", name, what)
			}
			step("create", func(uow *repository.UnitOfWork) error {
				var err error
				if user, err = uow.CreateUser(ctx, strings.ReplaceAll(name, " ", "_"), "App"); err != nil {
					return err
				}
				if post, err = uow.CreatePost(ctx, user, "by "+name, "", true); err != nil {
					return err
				}
				comment, err = uow.AddComment(ctx, post, users[0], "hello")
				return err
			})
			step("like", func(uow *repository.UnitOfWork) error { return uow.LikePost(ctx, post, users[1]) })
			step("edit", func(uow *repository.UnitOfWork) error { return uow.UpdatePost(ctx, post, "edited by "+name, "") })
			step("rename", func(uow *repository.UnitOfWork) error {
				return uow.RenameUser(ctx, user, "renamed_"+role+"_"+mode.String(), "")
			})
			step("delete comment", func(uow *repository.UnitOfWork) error { return uow.DeleteComment(ctx, comment) })
			step("comment again", func(uow *repository.UnitOfWork) error {
				_, err := uow.AddComment(ctx, post, user, "again")
				return err
			})
			if mode == syncuow.Deferred {
				_, err := worker.Drain(ctx)
				require.NoError(t, err, "%s: worker", name)
			}
			doc, err := repo.GetPost(ctx, post)
			require.NoError(t, err, "%s: read", name)
			assert.Contains(t, string(doc), "edited by "+name)
			step("delete user", func(uow *repository.UnitOfWork) error { return uow.DeleteUser(ctx, user) })
			if mode == syncuow.Deferred {
				_, err := worker.Drain(ctx)
				require.NoError(t, err, "%s: worker", name)
			}
		}
		noDrift(t, owner, label+": every tv_ row is current")
		assert.Zero(t, countRows(t, owner, "SELECT count(*) FROM tvsync.sync_queue"), "%s: nothing left queued", label)
	}

	round("before rebuild")
	for _, entity := range ownerEngine.Entities() {
		_, err := ownerEngine.Rebuild(ctx, entity, tvsync.RebuildOptions{})
		require.NoError(t, err, "the owner rebuilds %s", entity)
	}
	round("after rebuild")
}
