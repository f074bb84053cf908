package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tvsync/tvsync/internal/seed"
)

// scaleJSON is Scale without seed.Options's progress callback.
type scaleJSON struct {
	Name                          string
	Users, Posts, Comments, Likes int
	Seed                          uint64
}

// MarshalJSON encodes the scale's name and row counts.
func (s Scale) MarshalJSON() ([]byte, error) {
	return json.Marshal(scaleJSON{Name: s.Name, Users: s.Seed.Users, Posts: s.Seed.Posts, Comments: s.Seed.Comments, Likes: s.Seed.Likes, Seed: s.Seed.Seed})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Scale) UnmarshalJSON(b []byte) error {
	var j scaleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Scale{Name: j.Name, Seed: seed.Options{Users: j.Users, Posts: j.Posts, Comments: j.Comments, Likes: j.Likes, Seed: j.Seed}}
	return nil
}

// resultsFile is where WriteFiles keeps the results of a scale's last run.
func resultsFile(dir string, scale string) string {
	return filepath.Join(dir, "results-"+scale+".json")
}

// readResults reads the results a run of scale saved in dir; nil when
// there are none.
func readResults(dir, scale string) (*Results, error) {
	b, err := os.ReadFile(resultsFile(dir, scale))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: read the %s results: %w", scale, err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: decode %s: %w", resultsFile(dir, scale), err)
	}
	return &r, nil
}

// withScaleTable returns main with the scale table of large (another
// run's) when main has none of its own.
func withScaleTable(main, large *Results) *Results {
	if main.ScaleTable != nil || large == nil || large.ScaleTable == nil {
		return main
	}
	out := *main
	out.ScaleTable = large.ScaleTable
	out.ScaleTableFrom = fmt.Sprintf("by `tvsync-bench --scale %s` on %s (that run took %s)",
		large.Scale.Name, large.Started.UTC().Format("2006-01-02 15:04 UTC"), large.Took.Round(time.Second))
	return &out
}

// WriteFiles writes, in dir (created if need be), the results as JSON
// (results-SCALE.json), the markdown report (latest.md) and its chart
// (latest.png), and returns the paths of the last two; for scales other
// than main the report and chart are latest-SCALE.md and .png. The main
// report carries the scale table of the last 1M run saved in dir, and a 1M
// run also rewrites latest.md and latest.png from the last main results
// saved there, so both always show the newest scale table.
func (r *Results) WriteFiles(dir string) (md, png string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("bench: encode results: %w", err)
	}
	if err := os.WriteFile(resultsFile(dir, r.Scale.Name), append(b, '\n'), 0o644); err != nil {
		return "", "", fmt.Errorf("bench: write results: %w", err)
	}
	report := r
	switch r.Scale.Name {
	case ScaleMain.Name:
		large, err := readResults(dir, Scale1M.Name)
		if err != nil {
			return "", "", err
		}
		report = withScaleTable(r, large)
	case Scale1M.Name:
		main, err := readResults(dir, ScaleMain.Name)
		if err != nil {
			return "", "", err
		}
		if main != nil {
			if _, _, err := writeReport(dir, "latest", withScaleTable(main, r)); err != nil {
				return "", "", err
			}
		}
	}
	base := "latest"
	if r.Scale.Name != ScaleMain.Name {
		base += "-" + r.Scale.Name
	}
	return writeReport(dir, base, report)
}

// writeReport writes dir/base.md and dir/base.png for r.
func writeReport(dir, base string, r *Results) (md, png string, err error) {
	md, png = filepath.Join(dir, base+".md"), filepath.Join(dir, base+".png")
	body := r.Markdown() + "Chart: [" + base + ".png](" + base + ".png).\n"
	if err := os.WriteFile(md, []byte(body), 0o644); err != nil {
		return "", "", fmt.Errorf("bench: write %s: %w", md, err)
	}
	return md, png, r.WriteChart(png)
}
