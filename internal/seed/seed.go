// Package seed generates deterministic test data for the command tables
// (tb_user, tb_post, tb_comment, tb_post_like) and bulk-loads it through the
// COPY protocol.
//
// Every generated value — ids, usernames, texts, foreign keys, timestamps —
// is a pure function of (seed, table, row index), so the same [Options]
// always produce byte-identical data, and rows referring to other rows (a
// post's author, a comment's post) regenerate the referenced id instead of
// keeping millions of ids in memory. Rows are streamed to PostgreSQL with
// pgx.CopyFromFunc, so memory use does not grow with the row counts.
package seed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSeed is the seed used when [Options].Seed is 0. Loading with Seed 0
// and with Seed DefaultSeed therefore produces the same rows (and the
// second such load into one database fails on duplicate keys).
const DefaultSeed uint64 = 0x7475_7379_6e63_2025 // "tusync 2025"

// ProgressInterval is the number of rows between two calls of
// [Options].Progress within a table.
const ProgressInterval = 50_000

// BaseTime is the instant every generated created_at is offset from.
var BaseTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Options says how many rows of each table [Load] generates and from which
// seed.
type Options struct {
	// Users is the number of tb_user rows.
	Users int
	// Posts is the number of tb_post rows; each has a pseudo-random author
	// among the generated users.
	Posts int
	// Comments is the number of tb_comment rows; each has a pseudo-random
	// post and author among the generated posts and users.
	Comments int
	// Likes is the number of tb_post_like rows: distinct (post, user) pairs
	// among the generated posts and users, so at most Users*Posts.
	Likes int
	// Seed selects the data set; 0 means [DefaultSeed]. Loads with
	// different seeds produce disjoint ids and usernames, so they can share
	// a database.
	Seed uint64
	// Progress, if not nil, is called every [ProgressInterval] rows of a
	// table and once when the table is complete, with the table name, the
	// rows sent so far and the table's total.
	Progress func(table string, done, total int)
}

// ErrAlreadyLoaded is returned by Load when the data set of its seed is
// already in the database (its ids are deterministic, so they collide):
// nothing was loaded; load another seed.
var ErrAlreadyLoaded = errors.New("seed: the data set is already loaded")

// Counts reports how many rows [Load] inserted into each table.
type Counts struct {
	// Users is the number of rows inserted into tb_user.
	Users int64
	// Posts is the number of rows inserted into tb_post.
	Posts int64
	// Comments is the number of rows inserted into tb_comment.
	Comments int64
	// Likes is the number of rows inserted into tb_post_like.
	Likes int64
}

// Load validates opts, then generates and copies the users, posts, comments
// and likes, in that order, within a single transaction: on any error
// nothing is left behind. The tables may already hold rows, including rows
// from earlier Loads with other seeds.
func Load(ctx context.Context, pool *pgxpool.Pool, opts Options) (Counts, error) {
	if err := opts.validate(); err != nil {
		return Counts{}, err
	}
	g := newGen(opts)

	tx, err := pool.Begin(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("seed: begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // no-op after Commit

	var c Counts
	steps := []struct {
		table   string
		columns []string
		total   int
		row     func(i int, vals []any)
		dst     *int64
	}{
		{"tb_user", []string{"id", "username", "full_name", "created_at", "updated_at"}, opts.Users, g.userRow, &c.Users},
		{"tb_post", []string{"id", "author_id", "title", "content", "published", "view_count", "created_at", "updated_at"}, opts.Posts, g.postRow, &c.Posts},
		{"tb_comment", []string{"id", "post_id", "author_id", "content", "created_at"}, opts.Comments, g.commentRow, &c.Comments},
		{"tb_post_like", []string{"post_id", "user_id", "created_at"}, opts.Likes, g.likeRow, &c.Likes},
	}
	for _, s := range steps {
		n, err := copyTable(ctx, tx, s.table, s.columns, s.total, s.row, opts.Progress)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return Counts{}, fmt.Errorf("%w: rows of seed %d already exist in %s; nothing was loaded (use another --seed, or an empty database)", ErrAlreadyLoaded, opts.Seed, s.table)
		}
		if err != nil {
			return Counts{}, fmt.Errorf("seed: copy %d rows into %s: %w", s.total, s.table, err)
		}
		*s.dst = n
	}
	if err := tx.Commit(ctx); err != nil {
		return Counts{}, fmt.Errorf("seed: commit: %w", err)
	}
	return c, nil
}

// copyTable streams total rows built by row into table.
func copyTable(ctx context.Context, tx pgx.Tx, table string, columns []string, total int,
	row func(i int, vals []any), progress func(string, int, int)) (int64, error) {
	if total == 0 {
		if progress != nil {
			progress(table, 0, 0)
		}
		return 0, nil
	}
	vals := make([]any, len(columns)) // reused: pgx encodes each row before asking for the next
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == total {
			return nil, nil
		}
		row(i, vals)
		i++
		if progress != nil && (i%ProgressInterval == 0 || i == total) {
			progress(table, i, total)
		}
		return vals, nil
	})
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, src)
	if err != nil {
		return n, err
	}
	if n != int64(total) {
		return n, fmt.Errorf("copied %d rows, want %d", n, total)
	}
	return n, nil
}

// validate reports the first invalid field of o.
func (o Options) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Users", o.Users}, {"Posts", o.Posts}, {"Comments", o.Comments}, {"Likes", o.Likes}} {
		if f.v < 0 {
			return fmt.Errorf("seed: invalid options: %s = %d is negative", f.name, f.v)
		}
	}
	if o.Posts > 0 && o.Users == 0 {
		return fmt.Errorf("seed: invalid options: Posts = %d needs Users > 0 (posts need authors)", o.Posts)
	}
	if o.Comments > 0 && o.Posts == 0 {
		return fmt.Errorf("seed: invalid options: Comments = %d needs Posts > 0", o.Comments)
	}
	if o.Likes > 0 {
		hi, pairs := bits.Mul64(uint64(o.Users), uint64(o.Posts))
		if hi == 0 && pairs < uint64(o.Likes) {
			return fmt.Errorf("seed: invalid options: Likes = %d exceeds Users*Posts = %d*%d = %d distinct (post, user) pairs",
				o.Likes, o.Users, o.Posts, pairs)
		}
	}
	return nil
}

// Table salts keep the hash streams of different tables and purposes apart.
const (
	saltUser uint64 = iota + 1
	saltPost
	saltComment
	saltLike
	saltUserTime
	saltPostAuthor
	saltPostTime
	saltPostText
	saltCommentPost
	saltCommentAuthor
	saltCommentTime
	saltCommentText
	saltLikeTime
	saltLikeAffine
)

// gen produces rows; all its methods are pure functions of the index.
type gen struct {
	seed                   uint64
	seedStr                string
	users, posts           uint64
	likePairs              uint64 // users*posts (only meaningful when likes > 0)
	likeMul, likeAdd       uint64 // affine bijection k -> (likeMul*k + likeAdd) mod likePairs
	kUser, kPost, kComment uint64
}

func newGen(o Options) *gen {
	seed := o.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	g := &gen{
		seed:     seed,
		seedStr:  strconv.FormatUint(seed, 10),
		users:    uint64(o.Users),
		posts:    uint64(o.Posts),
		kUser:    mix(seed ^ mix(saltUser)),
		kPost:    mix(seed ^ mix(saltPost)),
		kComment: mix(seed ^ mix(saltComment)),
	}
	if o.Likes > 0 {
		hi, pairs := bits.Mul64(g.users, g.posts)
		if hi != 0 {
			// More pairs than fit in 64 bits: a bijection of [0, MaxUint64)
			// still yields distinct m, and m < users*posts keeps m/posts < users.
			pairs = math.MaxUint64
		}
		g.likePairs = pairs
		g.likeMul = g.rnd(saltLikeAffine, 0)%g.likePairs | 1
		for gcd(g.likeMul, g.likePairs) != 1 {
			g.likeMul = (g.likeMul + 2) % g.likePairs
			if g.likeMul == 0 {
				g.likeMul = 1
			}
		}
		g.likeAdd = g.rnd(saltLikeAffine, 1) % g.likePairs
	}
	return g
}

// mix is the splitmix64 finalizer: a bijection on uint64 with good
// avalanche.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rnd returns a pseudo-random 64-bit value for (seed, salt, i).
func (g *gen) rnd(salt uint64, i uint64) uint64 {
	return mix(mix(g.seed^salt*0x9e3779b97f4a7c15) + i*0xd1b54a32d192ed03)
}

// below returns a pseudo-random value in [0, n) for (seed, salt, i).
func (g *gen) below(salt uint64, i uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(g.rnd(salt, i), n)
	return hi
}

// makeID returns a version-4 UUID for row i of the table keyed by key.
// The 64-bit value p is a keyed bijection of i and is stored entirely in
// the 122 non-fixed bits, so ids of one (seed, table) are provably distinct;
// ids of different seeds differ with overwhelming probability.
func makeID(key uint64, i uint64) [16]byte {
	p := mix(mix(i^key) + key) // bijection of i for a fixed key
	q := mix(p ^ bits.RotateLeft64(key, 32))
	// hi: 60 bits of p around the version nibble (bits 12..15).
	v := p >> 4
	hi := (v>>12)<<16 | 0x4<<12 | v&0xfff
	// lo: variant 0b10, the low 4 bits of p, 58 bits of q.
	lo := uint64(0b10)<<62 | (p&0xf)<<58 | q>>6
	var u [16]byte
	for b := 0; b < 8; b++ {
		u[b] = byte(hi >> (56 - 8*b))
		u[8+b] = byte(lo >> (56 - 8*b))
	}
	return u
}

func (g *gen) userID(i uint64) [16]byte    { return makeID(g.kUser, i) }
func (g *gen) postID(i uint64) [16]byte    { return makeID(g.kPost, i) }
func (g *gen) commentID(i uint64) [16]byte { return makeID(g.kComment, i) }

const (
	day = 24 * time.Hour
	// timeUnit is the granularity of generated offsets (PostgreSQL keeps µs).
	timeUnit = time.Microsecond
)

// offset returns a pseudo-random duration in [0, max).
func (g *gen) offset(salt, i uint64, max time.Duration) time.Duration {
	return time.Duration(g.below(salt, i, uint64(max/timeUnit))) * timeUnit
}

// userTime is user i's created_at: within 180 days of BaseTime.
func (g *gen) userTime(i uint64) time.Time {
	return BaseTime.Add(g.offset(saltUserTime, i, 180*day))
}

// postAuthor is the user index of post j's author.
func (g *gen) postAuthor(j uint64) uint64 { return g.below(saltPostAuthor, j, g.users) }

// postTime is post j's created_at: after its author's creation.
func (g *gen) postTime(j uint64) time.Time {
	return g.userTime(g.postAuthor(j)).Add(time.Second + g.offset(saltPostTime, j, 180*day))
}

var lorem = [...]string{
	"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit",
	"sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et",
	"dolore", "magna", "aliqua", "enim", "ad", "minim", "veniam", "quis",
	"nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea",
}

// appendLorem appends between min and min+7 lorem words chosen by h.
func appendLorem(b []byte, h uint64, min int) []byte {
	n := min + int(h&7)
	h >>= 3
	for w := 0; w < n; w++ {
		if w > 0 {
			b = append(b, ' ')
		}
		if h < 32 {
			h = mix(h + uint64(w) + 0x9e3779b97f4a7c15)
		}
		b = append(b, lorem[h&31]...)
		h >>= 5
	}
	return append(b, '.')
}

func (g *gen) userRow(i int, vals []any) {
	u := uint64(i)
	idx := strconv.Itoa(i)
	t := g.userTime(u)
	vals[0] = g.userID(u)
	vals[1] = "user_" + g.seedStr + "_" + idx
	vals[2] = "User " + idx
	vals[3] = t
	vals[4] = t
}

func (g *gen) postRow(i int, vals []any) {
	j := uint64(i)
	h := g.rnd(saltPostText, j)
	t := g.postTime(j)
	var buf [256]byte
	content := appendLorem(buf[:0], h, 8)
	vals[0] = g.postID(j)
	vals[1] = g.userID(g.postAuthor(j))
	vals[2] = "Post " + strconv.Itoa(i) + " title"
	vals[3] = string(content)
	f := mix(h ^ saltPostText)
	vals[4] = f>>60 != 0 // published for 15/16 of the posts
	vals[5] = int64(f % 10_000)
	vals[6] = t
	vals[7] = t
}

func (g *gen) commentRow(i int, vals []any) {
	k := uint64(i)
	post := g.below(saltCommentPost, k, g.posts)
	var buf [160]byte
	content := appendLorem(buf[:0], g.rnd(saltCommentText, k), 3)
	vals[0] = g.commentID(k)
	vals[1] = g.postID(post)
	vals[2] = g.userID(g.below(saltCommentAuthor, k, g.users))
	vals[3] = string(content)
	vals[4] = g.postTime(post).Add(time.Second + g.offset(saltCommentTime, k, 30*day))
}

// likePair returns the (post, user) indexes of like k. k -> m is an affine
// bijection of [0, users*posts), so distinct k give distinct pairs.
func (g *gen) likePair(k uint64) (post, user uint64) {
	hi, lo := bits.Mul64(g.likeMul, k)
	m := bits.Rem64(hi, lo, g.likePairs)
	m, carry := bits.Add64(m, g.likeAdd, 0)
	if carry != 0 || m >= g.likePairs {
		m -= g.likePairs
	}
	return m % g.posts, m / g.posts
}

func (g *gen) likeRow(i int, vals []any) {
	k := uint64(i)
	post, user := g.likePair(k)
	pt, ut := g.postTime(post), g.userTime(user)
	if ut.After(pt) {
		pt = ut
	}
	vals[0] = g.postID(post)
	vals[1] = g.userID(user)
	vals[2] = pt.Add(time.Second + g.offset(saltLikeTime, k, 30*day))
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Validate reports whether [Load] would accept o: no negative count, posts
// only with users, comments only with posts, and no more likes than
// distinct (post, user) pairs.
func (o Options) Validate() error { return o.validate() }
