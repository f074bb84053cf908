package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Stat summarizes the durations of repeated runs of one measurement.
type Stat struct {
	Median, Min, Max time.Duration
	// Runs is how many runs were timed.
	Runs int
}

// Summarize returns the median, min and max of ds (the mean of the two
// middle values for an even count). The zero Stat for no durations.
func Summarize(ds []time.Duration) Stat {
	if len(ds) == 0 {
		return Stat{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1], Runs: len(s)}
}

// Ratio returns how many times slower a is than b, comparing medians.
func Ratio(a, b Stat) float64 {
	if b.Median <= 0 {
		return 0
	}
	return float64(a.Median) / float64(b.Median)
}

// Rate summarizes throughputs (operations per second) of repeated runs.
type Rate struct {
	Median, Min, Max float64
	Runs             int
}

// SummarizeRates returns the median, min and max of rs.
func SummarizeRates(rs []float64) Rate {
	if len(rs) == 0 {
		return Rate{}
	}
	s := slices.Clone(rs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Rate{Median: m, Min: s[0], Max: s[len(s)-1], Runs: len(s)}
}

// Percentile returns the p-th percentile (0..100, nearest rank) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms renders a duration in milliseconds with sensible precision.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// cell renders a Stat as "median (min–max)" in milliseconds.
func (s Stat) cell() string {
	if s.Runs == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", ms(s.Median), ms(s.Min), ms(s.Max))
}

// cell renders a Rate as "median (min–max)".
func (r Rate) cell() string {
	if r.Runs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", r.Median, r.Min, r.Max)
}

// sample returns n distinct ids of all, picked with a fixed seed so every
// run of the suite uses the same ids.
func sample(all []uuid.UUID, n int, seedValue uint64) []uuid.UUID {
	if n >= len(all) {
		return slices.Clone(all)
	}
	r := rand.New(rand.NewPCG(seedValue, 0x7476))
	idx := r.Perm(len(all))[:n]
	out := make([]uuid.UUID, n)
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}
