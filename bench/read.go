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

// ReadResult is the read path measurement.
type ReadResult struct {
	Readers, PerReader int
	// Rates[variant] in reads per second.
	Rates map[string]Rate
}

// MeasureReadPath measures the throughput of each read variant under
// readers concurrent readers doing perReader reads each, runs times,
// interleaved; both variants read the same ids.
func MeasureReadPath(ctx context.Context, env *Env, readers, perReader, runs int) (ReadResult, error) {
	res := ReadResult{Readers: readers, PerReader: perReader, Rates: map[string]Rate{}}
	ids := sample(env.PostIDs, min(readers*perReader, len(env.PostIDs)), 400)
	rates := map[string][]float64{}
	for range runs {
		for _, v := range ReadVariants {
			rate, err := ReadLoad(ctx, env, v, ids, readers, perReader)
			if err != nil {
				return res, err
			}
			rates[v] = append(rates[v], rate)
		}
	}
	for v, rs := range rates {
		res.Rates[v] = SummarizeRates(rs)
	}
	env.log.InfoContext(ctx, "bench: read path", slog.Float64("stored_per_s", res.Rates[ReadStored].Median),
		slog.Float64("built_per_s", res.Rates[ReadBuilt].Median))
	return res, nil
}
