package bench

import (
	"fmt"
	"image/color"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteChart draws one panel per measurement present (medians) and writes
// them as a PNG to path.
func (r *Results) WriteChart(path string) error {
	var panels []*plot.Plot
	add := func(p *plot.Plot, err error) error {
		if err != nil {
			return err
		}
		if p != nil {
			panels = append(panels, p)
		}
		return nil
	}
	for _, fn := range []func() (*plot.Plot, error){r.scalePlot, r.batchPlot, r.widePlot, r.writePlot, r.fullPlot, r.readPlot, r.lagPlot} {
		if err := add(fn()); err != nil {
			return fmt.Errorf("bench: chart: %w", err)
		}
	}
	if len(panels) == 0 {
		return fmt.Errorf("bench: chart: nothing measured")
	}
	cols := min(2, len(panels))
	rows := (len(panels) + cols - 1) / cols
	const w, h = 9 * vg.Inch, 5 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w*vg.Length(cols), h*vg.Length(rows)), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Inch / 3, PadY: vg.Inch / 3,
		PadTop: vg.Inch / 5, PadBottom: vg.Inch / 5, PadLeft: vg.Inch / 5, PadRight: vg.Inch / 5}
	for i, p := range panels {
		p.Draw(tiles.At(dc, i%cols, i/cols))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: chart: write %s: %w", path, err)
	}
	return f.Close()
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// logLines is a log-log line chart of series over x values.
func logLines(title, xlabel, ylabel string, names []string, xs []float64, y func(name string, i int) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	var args []any
	for _, name := range names {
		pts := make(plotter.XYs, len(xs))
		for i, x := range xs {
			pts[i].X, pts[i].Y = x, max(y(name, i), 1e-3)
		}
		args = append(args, name, pts)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, err
	}
	return p, nil
}

// hbars is a horizontal bar chart, one bar per label.
func hbars(title, xlabel string, labels []string, values []float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(14))
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = color.RGBA{R: 0x31, G: 0x6b, B: 0xb4, A: 0xff}
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalY(labels...)
	return p, nil
}

func (r *Results) batchPlot() (*plot.Plot, error) {
	x := r.Batch
	if x == nil {
		return nil, nil
	}
	xs := make([]float64, len(x.Sizes))
	for i, n := range x.Sizes {
		xs[i] = float64(n)
	}
	names := slices.Clone(BatchVariants)
	series := map[string]func(i int) float64{}
	for _, v := range BatchVariants {
		series[v] = func(i int) float64 { return msf(x.Stats[x.Sizes[i]][v].Median) }
	}
	title := "1. Batch sync (median, log-log)"
	if net := r.BatchNet; net != nil {
		title = fmt.Sprintf("1. Batch sync, local and +%s ms each way (median, log-log)", ms(net.Network))
		for _, v := range BatchVariants {
			name := v + fmt.Sprintf(", +%s ms", ms(net.Network))
			names = append(names, name)
			series[name] = func(i int) float64 { return msf(net.Stats[x.Sizes[i]][v].Median) }
		}
	}
	return logLines(title, "post ids per batch", "ms", names, xs, func(name string, i int) float64 { return series[name](i) })
}

func (r *Results) widePlot() (*plot.Plot, error) {
	x := r.Wide
	if x == nil {
		return nil, nil
	}
	xs := make([]float64, len(x.Sizes))
	for i, n := range x.Sizes {
		if n == 0 {
			n = r.PostCount
		}
		xs[i] = float64(n)
	}
	return logLines("Refresh plan crossover (median, log-log)", "post ids per statement", "ms", PlanVariants, xs,
		func(v string, i int) float64 { return msf(x.Stats[x.Sizes[i]][v].Median) })
}

func (r *Results) writePlot() (*plot.Plot, error) {
	w := r.Write
	if w == nil {
		return nil, nil
	}
	var labels []string
	var vals []float64
	for i := len(WriteVariants) - 1; i >= 0; i-- { // NominalY draws bottom-up
		v := WriteVariants[i]
		labels = append(labels, shortWrite[v])
		vals = append(vals, msf(w.Bulk[v].Median))
	}
	return hbars(fmt.Sprintf("2. Write path: %d comments over %d posts, one tx (median)", w.BulkComments, w.BulkPosts), "ms", labels, vals)
}

var shortWrite = map[string]string{
	WritePlain: "plain (no sync)", WriteRowTrigger: "row trigger", WriteStmtTrigger: "statement trigger",
	WriteAfterCommit: "UoW after-commit", WriteInline: "UoW inline", WriteDeferred: "UoW deferred: commit",
	WriteDeferredDrained: "UoW deferred: drained", WriteAddComment: "AddComment x N (+comment,user)",
}

func (r *Results) fullPlot() (*plot.Plot, error) {
	f := r.Full
	if f == nil {
		return nil, nil
	}
	var labels []string
	var vals []float64
	short := map[string]string{FullEngine: "tvsync FullSync", FullInsertSelect: "INSERT...SELECT", FullMatview: "matview REFRESH"}
	for i := len(f.States) - 1; i >= 0; i-- {
		state := f.States[i]
		for j := len(FullVariants) - 1; j >= 0; j-- {
			v := FullVariants[j]
			s, ok := f.Stats[state][v]
			if !ok {
				continue
			}
			label := short[v] + ", " + state
			if v == FullMatview && state == StateCurrent {
				label = "matview CONCURRENTLY, " + state
			}
			labels = append(labels, label)
			vals = append(vals, s.Median.Seconds())
		}
	}
	return hbars(fmt.Sprintf("3. Full rebuild of tv_post, %d posts (median)", r.PostCount), "seconds", labels, vals)
}

func (r *Results) readPlot() (*plot.Plot, error) {
	rd := r.Read
	if rd == nil || len(rd.Cases) == 0 {
		return nil, nil
	}
	var labels []string
	var vals []float64
	for i := len(rd.Cases) - 1; i >= 0; i-- {
		c := rd.Cases[i]
		labels = append(labels, c.Name)
		vals = append(vals, RateRatioOf(c.Rates[ReadStored], c.Rates[ReadBuilt]).Median)
	}
	return hbars(fmt.Sprintf("4. Read path, %d readers: stored / built at read time (median of per-run ratios)", rd.Readers), "throughput ratio", labels, vals)
}

func (r *Results) lagPlot() (*plot.Plot, error) {
	l := r.Lag
	if l == nil || len(l.Runs) == 0 {
		return nil, nil
	}
	runs := append([]LagRun(nil), l.Runs...)
	if l.High != nil {
		runs = append(runs, *l.High)
	}
	var labels []string
	var vals []float64
	for i := len(runs) - 1; i >= 0; i-- {
		run := runs[i]
		name := fmt.Sprintf("run %d", i+1)
		if l.High != nil && i == len(runs)-1 {
			name = "high rate"
		}
		labels = append(labels, fmt.Sprintf("%s: %.0f/s, %d workers, load %s", name, run.TargetRate, run.Workers, run.Load))
		vals = append(vals, msf(run.LagP99))
	}
	return hbars("5. Deferred mode: lag p99 per run", "ms", labels, vals)
}

func (r *Results) scalePlot() (*plot.Plot, error) {
	s := r.ScaleTable
	if s == nil || len(s.Points) == 0 {
		return nil, nil
	}
	var labels []string
	var vals []float64
	for i := len(s.Points) - 1; i >= 0; i-- {
		p := s.Points[i]
		labels = append(labels, fmt.Sprintf("%d posts", p.Posts))
		vals = append(vals, median(p.PerRow())/1e3)
	}
	return hbars(fmt.Sprintf("Scale: full sync per post (median), largest / smallest %.2fx", s.PerRowRatio().Median), "µs per post", labels, vals)
}
