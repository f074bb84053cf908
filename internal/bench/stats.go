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
	// All are the durations in run order, so that two variants run
	// alternately can be compared run by run (RatioOf).
	All []time.Duration
}

// Summarize returns the median, min and max of ds (the mean of the two
// middle values for an even count), keeping ds in run order. The zero Stat
// for no durations.
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
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1], Runs: len(s), All: slices.Clone(ds)}
}

// Rate summarizes throughputs (operations per second) of repeated runs.
type Rate struct {
	Median, Min, Max float64
	Runs             int
	// All are the rates in run order.
	All []float64
}

// SummarizeRates returns the median, min and max of rs, keeping rs in run
// order.
func SummarizeRates(rs []float64) Rate {
	if len(rs) == 0 {
		return Rate{}
	}
	return Rate{Median: median(rs), Min: slices.Min(rs), Max: slices.Max(rs), Runs: len(rs), All: slices.Clone(rs)}
}

// median returns the median of xs (the mean of the two middle values for an
// even count), zero for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// RatioStat summarizes per-run ratios of two variants measured alternately
// in one sitting: run i gives a[i]/b[i], and Median is the median of those
// ratios, not the ratio of the medians, so that a burst of noise which
// slows one run slows both sides of its ratio and cannot flip a verdict.
type RatioStat struct {
	Median, Min, Max float64
	// Runs is how many runs had both sides measured.
	Runs int
}

// RunRatios returns the RatioStat of a[i]/b[i] over the runs both have;
// runs where b[i] is not positive are left out.
func RunRatios(a, b []float64) RatioStat {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return RatioStat{}
	}
	return RatioStat{Median: median(rs), Min: slices.Min(rs), Max: slices.Max(rs), Runs: len(rs)}
}

// RatioOf is how many times a's duration is b's, run by run (see RatioStat).
func RatioOf(a, b Stat) RatioStat { return RunRatios(floats(a.All), floats(b.All)) }

// RateRatioOf is how many times a's throughput is b's, run by run.
func RateRatioOf(a, b Rate) RatioStat { return RunRatios(a.All, b.All) }

func floats(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}

// cell renders a RatioStat as "median× (min–max)".
func (r RatioStat) cell() string {
	switch r.Runs {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf("%.2f×", r.Median)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", r.Median, r.Min, r.Max)
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
