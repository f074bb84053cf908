package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Load is a 1-minute load average, printed beside every run in the report
// so that a reader can tell a noisy machine from a regression. A negative
// Load means it could not be read.
type Load float64

// LoadAvg returns the 1-minute load average from /proc/loadavg, or -1 where
// there is none (not Linux).
func LoadAvg() Load {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	l, err := parseLoadAvg(string(b))
	if err != nil {
		return -1
	}
	return l
}

// parseLoadAvg reads the first field of /proc/loadavg's content.
func parseLoadAvg(s string) (Load, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("bench: empty /proc/loadavg")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("bench: /proc/loadavg %q: %w", s, err)
	}
	return Load(v), nil
}

// String renders the load with two decimals, or "n/a".
func (l Load) String() string {
	if l < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(l), 'f', 2, 64)
}

// loads renders loads as "0.52, 0.61, 0.70".
func loads(ls []Load) string {
	if len(ls) == 0 {
		return "n/a"
	}
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}
