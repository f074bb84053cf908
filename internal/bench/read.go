package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// Read path variants.
const (
	// ReadStored is repo.GetPost: the stored tv_post bytes.
	ReadStored = "tvsync repo.GetPost (stored tv_post)"
	// ReadBuilt builds the same document at read time:
	// SELECT data FROM tv_post_source WHERE id = $1.
	ReadBuilt = "built at read time (tv_post_source)"
)

// ReadVariants lists the read path variants in report order.
var ReadVariants = []string{ReadStored, ReadBuilt}

// ReadPost reads the document of post id with variant v.
func ReadPost(ctx context.Context, env *Env, v string, id uuid.UUID) (json.RawMessage, error) {
	switch v {
	case ReadStored:
		return env.Repo.GetPost(ctx, id)
	case ReadBuilt:
		var data json.RawMessage
		if err := env.Pool.QueryRow(ctx, "SELECT data FROM tv_post_source WHERE id = $1", id).Scan(&data); err != nil {
			return nil, fmt.Errorf("read post %s from tv_post_source: %w", id, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("bench: unknown read variant %q", v)
}

// ReadLoad runs readers goroutines that each read perReader posts (picked
// from ids, a different slice per reader) with variant v, and returns the
// throughput in reads per second.
func ReadLoad(ctx context.Context, env *Env, v string, ids []uuid.UUID, readers, perReader int) (float64, error) {
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for r := range readers {
		g.Go(func() error {
			for i := range perReader {
				id := ids[(r*perReader+i)%len(ids)]
				if _, err := ReadPost(gctx, env, v, id); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(readers*perReader) / time.Since(start).Seconds(), nil
}

// ReadCase is the read path measured on one kind of post.
type ReadCase struct {
	// Name says which posts were read; Comments how many comments each
	// has (the mean for the average post).
	Name     string
	Comments float64
	// PerReader is how many reads each reader made per run.
	PerReader int
	// Rates[variant] in reads per second, runs in order.
	Rates map[string]Rate
}

// ReadResult is the read path measurement.
type ReadResult struct {
	Readers int
	// Cases: the average post first, then each hot post.
	Cases []ReadCase
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
}

// MeasureReadPath measures the throughput of each read variant under
// readers concurrent readers, runs times, alternating the variants run by
// run: on distinct average posts (perReader reads per reader), and on each
// of env.HotPosts read over and over (a hot post is read often, and its
// document costs most to build: perReader/5 reads per reader for up to 100
// comments, perReader/20 above). Both variants read the same ids.
func MeasureReadPath(ctx context.Context, env *Env, readers, perReader, runs int) (ReadResult, error) {
	res := ReadResult{Readers: readers}
	type plan struct {
		ids []uuid.UUID
		c   *ReadCase
	}
	sc := env.Scale.Seed
	avg := float64(sc.Comments) / float64(max(sc.Posts, 1))
	plans := []plan{{
		ids: sample(env.PostIDs, min(readers*perReader, len(env.PostIDs)), 400),
		c:   &ReadCase{Name: fmt.Sprintf("average post (%.0f comments)", avg), Comments: avg, PerReader: perReader},
	}}
	for _, h := range env.HotPosts {
		n := max(perReader/5, 2)
		if h.Comments > 100 {
			n = max(perReader/20, 2)
		}
		plans = append(plans, plan{ids: []uuid.UUID{h.ID},
			c: &ReadCase{Name: fmt.Sprintf("post with %d comments", h.Comments), Comments: float64(h.Comments), PerReader: n}})
	}
	rates := make([]map[string][]float64, len(plans))
	for run := range runs {
		res.Loads = append(res.Loads, LoadAvg())
		for i, p := range plans {
			if run == 0 {
				rates[i] = map[string][]float64{}
			}
			for _, v := range ReadVariants {
				rate, err := ReadLoad(ctx, env, v, p.ids, readers, p.c.PerReader)
				if err != nil {
					return res, err
				}
				rates[i][v] = append(rates[i][v], rate)
			}
		}
	}
	for i, p := range plans {
		p.c.Rates = map[string]Rate{}
		for v, rs := range rates[i] {
			p.c.Rates[v] = SummarizeRates(rs)
		}
		res.Cases = append(res.Cases, *p.c)
		env.log.InfoContext(ctx, "bench: read path", slog.String("posts", p.c.Name),
			slog.Float64("stored_per_s", p.c.Rates[ReadStored].Median), slog.Float64("built_per_s", p.c.Rates[ReadBuilt].Median))
	}
	return res, nil
}
