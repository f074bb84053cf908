package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
)

// HotPostComments are the comment counts of the posts the suite adds to
// every data set, so that the read path is also measured where building
// at read time costs most (a seeded post has 5 comments on average).
var HotPostComments = []int{50, 500}

// hotPostTitle is the title of the hot post with %d comments.
const hotPostTitle = "tvsync bench: post with %d comments"

// templateVersion changes whenever a template's content changes in a way
// templateKey cannot see (the hot posts, the setup steps), so that kept
// templates are rebuilt.
const templateVersion = 1

// TemplateName is the name of the kept template database of scale.
func TemplateName(scale Scale) string { return "tvsync_bench_tmpl_" + scale.Name }

// TemplateInfo describes the template database a data set was cloned from.
type TemplateInfo struct {
	// Name is the template database.
	Name string
	// Reused says this run cloned a template an earlier run had built.
	Reused bool
	// Kept says the template stays on the server for later runs.
	Kept bool
	// Built is when the template was built; Phases how long building it
	// took, phase by phase (seeding, initial full syncs, VACUUM ANALYZE).
	Built  time.Time
	Phases []Phase
	// Key identifies what the template holds: the migrations, the row
	// counts and templateVersion.
	Key string
}

// BuildTime is the sum of the template's phases.
func (t TemplateInfo) BuildTime() time.Duration {
	var d time.Duration
	for _, p := range t.Phases {
		d += p.Duration
	}
	return d
}

// templateKey identifies what a template of scale holds.
func templateKey(scale Scale) (string, error) {
	h := sha256.New()
	sc := scale.Seed
	fmt.Fprintf(h, "v%d %s users=%d posts=%d comments=%d likes=%d seed=%d hot=%v\n",
		templateVersion, scale.Name, sc.Users, sc.Posts, sc.Comments, sc.Likes, sc.Seed, HotPostComments)
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("bench: read the embedded migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// template returns the name of a template database holding env.Scale's
// data set, reusing a kept one whose key matches, else building it. A
// template that is not kept gets a unique name and is dropped by Close.
func (env *Env) template(ctx context.Context, keep bool) (string, error) {
	key, err := templateKey(env.Scale)
	if err != nil {
		return "", err
	}
	name := TemplateName(env.Scale)
	if !keep {
		name += "_" + randomSuffix()
	}
	env.Template = TemplateInfo{Name: name, Kept: keep, Key: key}
	if keep {
		info, found, err := env.readTemplate(ctx, name)
		if err != nil {
			return "", err
		}
		if found && info.Key == key {
			info.Name, info.Reused, info.Kept = name, true, true
			env.Template = info
			env.log.InfoContext(ctx, "bench: reusing the kept data set", slog.String("template", name),
				slog.Time("built", info.Built), slog.Duration("build_took", info.BuildTime().Round(time.Second)))
			return name, nil
		}
		if found {
			env.log.InfoContext(ctx, "bench: the kept data set is stale or incomplete: rebuilding it", slog.String("template", name))
		}
		if _, err := env.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("bench: drop stale template %s: %w", name, err)
		}
	}
	if err := env.buildTemplate(ctx, name); err != nil {
		return "", err
	}
	return name, nil
}

// templateComment is what COMMENT ON DATABASE records on a complete
// template; it is written last, so a template whose build was interrupted
// has none and is rebuilt.
type templateComment struct {
	Tvsync string
	Key    string
	Built  time.Time
	Phases []Phase
}

const templateMarker = "tvsync bench data set"

// readTemplate reads the comment of template database name.
func (env *Env) readTemplate(ctx context.Context, name string) (TemplateInfo, bool, error) {
	var comment *string
	err := env.admin.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return TemplateInfo{}, false, nil
	}
	if err != nil {
		return TemplateInfo{}, false, fmt.Errorf("bench: look up template %s: %w", name, err)
	}
	var c templateComment
	if comment == nil || json.Unmarshal([]byte(*comment), &c) != nil || c.Tvsync != templateMarker {
		return TemplateInfo{}, true, nil // present but incomplete
	}
	return TemplateInfo{Key: c.Key, Built: c.Built, Phases: c.Phases}, true, nil
}

// buildTemplate creates database name and loads the data set into it:
// migrations, seed (COPY), the hot posts, a full sync of every tv_ table,
// VACUUM ANALYZE; then it records the build in the database's comment.
func (env *Env) buildTemplate(ctx context.Context, name string) error {
	info := &env.Template
	info.Built = time.Now().UTC()
	step := func(phase string, fn func() error) error {
		env.log.InfoContext(ctx, "bench: "+phase, slog.String("template", name))
		start := time.Now()
		if err := fn(); err != nil {
			return err
		}
		p := Phase{Name: phase, Duration: time.Since(start)}
		info.Phases = append(info.Phases, p)
		env.SetupTimes = append(env.SetupTimes, p)
		env.log.InfoContext(ctx, "bench: done", slog.String("phase", phase), slog.Duration("took", p.Duration.Round(time.Millisecond)))
		return nil
	}
	var d *DB
	defer func() {
		if d != nil {
			d.Pool.Close()
		}
	}()
	err := step("create and migrate database "+name, func() error {
		if _, err := env.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("bench: create database %s: %w", name, err)
		}
		if !info.Kept {
			env.dbs = append(env.dbs, name)
		}
		var err error
		if d, err = env.open(ctx, name, connOptions{}); err != nil {
			return err
		}
		if _, err := migrate.Up(ctx, d.Pool, nil); err != nil {
			return fmt.Errorf("bench: migrate %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sc := env.Scale.Seed
	err = step(fmt.Sprintf("seed %d users, %d posts, %d comments, %d likes (COPY) and the posts with %s comments",
		sc.Users, sc.Posts, sc.Comments, sc.Likes, hotList()), func() error {
		sc.Progress = func(table string, done, total int) {
			if done == total || done%(10*seed.ProgressInterval) == 0 {
				env.log.InfoContext(ctx, "bench: seeding", slog.String("table", table), slog.Int("rows", done), slog.Int("total", total))
			}
		}
		if _, err := seed.Load(ctx, d.Pool, sc); err != nil {
			return fmt.Errorf("bench: seed: %w", err)
		}
		return addHotPosts(ctx, d.Pool)
	})
	if err != nil {
		return err
	}
	engine := blog.MustNewEngine(d.Pool, tvsync.Config{Logger: env.log, SlowThreshold: -1})
	for _, entity := range []string{blog.EntityUser, blog.EntityPost, blog.EntityComment} {
		err := step("initial full sync of tv_"+entity, func() error {
			if _, err := engine.FullSync(ctx, entity, tvsync.FullOptions{}); err != nil {
				return fmt.Errorf("bench: initial full sync of %s: %w", entity, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	err = step("VACUUM ANALYZE", func() error {
		if _, err := d.Pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			return fmt.Errorf("bench: vacuum analyze: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.Pool.Close() // a template must have no other connection
	d = nil
	comment, err := json.Marshal(templateComment{Tvsync: templateMarker, Key: info.Key, Built: info.Built, Phases: info.Phases})
	if err != nil {
		return fmt.Errorf("bench: encode template comment: %w", err)
	}
	if _, err := env.admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS '%s'",
		pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(string(comment), "'", "''"))); err != nil {
		return fmt.Errorf("bench: record template %s: %w", name, err)
	}
	return nil
}

// addHotPostsSQL adds one post with $2 comments, titled $1, by the first
// user, its comments by the first 1000 users in turn, a second apart.
const addHotPostsSQL = `
WITH users AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM (SELECT id FROM tb_user ORDER BY id LIMIT 1000) u
), p AS (
    INSERT INTO tb_post (author_id, title, content, published, created_at, updated_at)
    SELECT ids[1], $1, 'A heavily commented post for the read-path benchmark.', true, $3, $3 FROM users
    RETURNING id
)
INSERT INTO tb_comment (post_id, author_id, content, created_at)
SELECT p.id, users.ids[1 + g % cardinality(users.ids)], 'bench comment ' || g, $3::timestamptz + g * interval '1 second'
FROM p, users, generate_series(1, $2::int) g`

// addHotPosts adds a post for each of HotPostComments.
func addHotPosts(ctx context.Context, pool *pgxpool.Pool) error {
	for _, n := range HotPostComments {
		if _, err := pool.Exec(ctx, addHotPostsSQL, fmt.Sprintf(hotPostTitle, n), n, seed.BaseTime); err != nil {
			return fmt.Errorf("bench: add a post with %d comments: %w", n, err)
		}
	}
	return nil
}

// hotPosts finds the posts addHotPosts added, fewest comments first.
func hotPosts(ctx context.Context, pool *pgxpool.Pool) ([]HotPost, error) {
	titles := make([]string, len(HotPostComments))
	for i, n := range HotPostComments {
		titles[i] = fmt.Sprintf(hotPostTitle, n)
	}
	rows, err := pool.Query(ctx, `
		SELECT p.id, (SELECT count(*) FROM tb_comment c WHERE c.post_id = p.id)::int
		FROM tb_post p WHERE p.title = ANY($1) ORDER BY 2`, titles)
	if err != nil {
		return nil, fmt.Errorf("bench: find the hot posts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HotPost, error) {
		var h HotPost
		err := r.Scan(&h.ID, &h.Comments)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: find the hot posts: %w", err)
	}
	if len(out) != len(HotPostComments) {
		return nil, fmt.Errorf("bench: found %d hot posts, want %d", len(out), len(HotPostComments))
	}
	return out, nil
}

// hotIDs returns the ids of hs.
func hotIDs(hs []HotPost) []uuid.UUID {
	out := make([]uuid.UUID, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}
