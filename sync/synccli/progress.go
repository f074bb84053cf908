package synccli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	gosync "sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports how far a long command got: a progress bar on a
// terminal, or (--progress log, and by default when stderr is not a
// terminal) a structured log line every --progress-interval with the rows
// done, the total, the percentage, the rate and the estimated time left.
// Rates count from the moment the Progress was made. It is safe for
// concurrent use; call Finish when the work ends, successful or not.
type Progress struct {
	app      *App
	label    string
	log      *slog.Logger
	stderr   io.Writer
	start    time.Time
	mu       gosync.Mutex
	done     int64
	total    int64 // 0: unknown
	bar      *progressbar.ProgressBar
	stop     chan struct{}
	stopped  chan struct{}
	finished bool
}

// Progress starts reporting the progress of the task label over total rows
// (0 when not known yet; see SetTotal).
func (a *App) Progress(label string, total int64) *Progress {
	p := &Progress{app: a, label: label, log: a.log, stderr: a.stderr, start: time.Now(), total: total}
	mode := a.progress
	if mode == "auto" {
		mode = "log"
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		max := total
		if max <= 0 {
			max = -1 // a spinner until the total is known
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
		)
	case "log":
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.tick(a.progressIv)
	}
	return p
}

// SetTotal sets the number of rows the task will process.
func (p *Progress) SetTotal(total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	if p.bar != nil && total > 0 {
		p.bar.ChangeMax64(total)
	}
}

// Set records that done rows are processed.
func (p *Progress) Set(done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if p.bar != nil {
		if m := p.bar.GetMax64(); m > 0 {
			done = min(done, m)
		}
		_ = p.bar.Set64(done)
	}
}

// tick logs the progress every interval until Finish.
func (p *Progress) tick(interval time.Duration) {
	defer close(p.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.logLine("progress")
		}
	}
}

// logLine logs the task's state: rows done, total, percentage, rate in rows
// per second since the start and, with a total, the estimated time left.
func (p *Progress) logLine(msg string) {
	p.mu.Lock()
	done, total := p.done, p.total
	p.mu.Unlock()
	elapsed := time.Since(p.start)
	rate := float64(done) / elapsed.Seconds()
	attrs := []any{slog.String("task", p.label), slog.Int64("done", done), slog.Int64("total", total)}
	if total > 0 {
		attrs = append(attrs, slog.String("percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(total))))
	}
	attrs = append(attrs, slog.Int64("rate", int64(rate)))
	if total > 0 {
		eta := time.Duration(0)
		if left := total - done; left > 0 {
			eta = time.Duration(-1) // unknown until a row is done
			if rate > 0 {
				eta = time.Duration(float64(left) / rate * float64(time.Second)).Round(100 * time.Millisecond)
			}
		}
		if eta >= 0 {
			attrs = append(attrs, slog.Duration("eta", eta))
		} else {
			attrs = append(attrs, slog.String("eta", "unknown"))
		}
	}
	attrs = append(attrs, slog.Duration("elapsed", elapsed.Round(time.Millisecond)))
	p.log.Info(msg, attrs...)
}

// Finish ends the report: the bar is completed (or left where it stopped,
// on a new line), or one last line is logged (none when the command was
// interrupted).
func (p *Progress) Finish() {
	p.mu.Lock()
	if p.finished {
		p.mu.Unlock()
		return
	}
	p.finished = true
	bar, done, total := p.bar, p.done, p.total
	p.mu.Unlock()
	switch {
	case bar != nil && total > 0 && done >= total:
		_ = bar.Finish()
	case bar != nil:
		_ = bar.Exit() // its completion hook ends the line
	case p.stop != nil:
		close(p.stop)
		<-p.stopped
		if p.app.ctx.Err() == nil { // an interrupt is reported in one line by Execute
			p.logLine("finished")
		}
	}
}
