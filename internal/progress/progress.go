// Package progress draws a progress bar of bytes read on a terminal: the
// share of a known total, the rate and the time left, redrawn at most ten
// times a second by its own goroutine, so the reading loop only adds to a
// counter.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Bar.
type Config struct {
	// W is the terminal the bar is drawn on (stderr).
	W io.Writer
	// Label starts the line ("analyze").
	Label string
	// Total is the number of bytes of the whole; 0 when unknown (no share
	// and no time left are shown then).
	Total int64
}

// every is the time between two redraws.
const every = 100 * time.Millisecond

// width is the number of cells of the bar itself.
const width = 24

// Bar is a progress bar. A nil *Bar is a disabled one: its methods do
// nothing and Counter returns nil.
type Bar struct {
	cfg   Config
	read  atomic.Int64
	now   func() time.Time // time.Now; tests set a fake clock
	every time.Duration    // between redraws; tests make it long

	mu      sync.Mutex // orders the bar's lines and the log lines on W
	start   time.Time
	drawn   bool // a bar line is on the terminal, without a newline
	stopped bool

	quit     chan struct{}
	finished chan struct{}
	once     sync.Once
}

// New returns a Bar that is not drawn yet; Start draws it.
func New(cfg Config) *Bar {
	return &Bar{cfg: cfg, now: time.Now, every: every, quit: make(chan struct{}), finished: make(chan struct{})}
}

// Enabled reports whether a bar should be drawn on w: not with quiet, and
// only when w is a terminal as isTerminal (go-isatty's IsTerminal) says.
func Enabled(w io.Writer, quiet bool, isTerminal func(fd uintptr) bool) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return !quiet && ok && isTerminal(f.Fd())
}

// FilesSize is the sum of the sizes of the files at paths; the files that
// cannot be read count zero (opening them will say why).
func FilesSize(paths []string) int64 {
	var n int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			n += st.Size()
		}
	}
	return n
}

// Counter is the count of bytes read that the reader adds to.
func (b *Bar) Counter() *atomic.Int64 {
	if b == nil {
		return nil
	}
	return &b.read
}

// Start draws the bar and redraws it until Stop.
func (b *Bar) Start() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.start = b.now()
	b.draw()
	b.mu.Unlock()
	go func() {
		defer close(b.finished)
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-t.C:
				b.mu.Lock()
				b.draw()
				b.mu.Unlock()
			}
		}
	}()
}

// Stop draws the final state of the bar and ends its line. It may be
// called more than once, also without Start.
func (b *Bar) Stop() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		close(b.quit)
		b.mu.Lock()
		started := !b.start.IsZero()
		b.mu.Unlock()
		if started {
			<-b.finished
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if started {
			b.draw()
			fmt.Fprint(b.cfg.W, "\n")
		}
		b.drawn, b.stopped = false, true
	})
}

// Writer returns w, for the logger, such that each write first clears the
// bar's line and then draws the bar again below what was written: log
// lines and the bar never share a line. w must be the bar's terminal.
func (b *Bar) Writer(w io.Writer) io.Writer {
	if b == nil {
		return w
	}
	return logWriter{b: b, w: w}
}

type logWriter struct {
	b *Bar
	w io.Writer
}

func (l logWriter) Write(p []byte) (int, error) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.b.drawn {
		fmt.Fprint(l.b.cfg.W, "\r\033[K")
		l.b.drawn = false
	}
	n, err := l.w.Write(p)
	if !l.b.stopped && !l.b.start.IsZero() {
		l.b.draw()
	}
	return n, err
}

// draw redraws the line; b.mu is held.
func (b *Bar) draw() {
	fmt.Fprint(b.cfg.W, "\r"+b.line(b.read.Load(), b.now().Sub(b.start))+"\033[K")
	b.drawn = true
}

// line formats the bar for n bytes read in elapsed.
func (b *Bar) line(n int64, elapsed time.Duration) string {
	var s strings.Builder
	s.WriteString(b.cfg.Label)
	rate := float64(n) / max(elapsed.Seconds(), 1e-3)
	if t := b.cfg.Total; t > 0 {
		frac := min(1, float64(n)/float64(t))
		cells := int(frac * width)
		fmt.Fprintf(&s, " [%s%s] %3.0f%% %s/%s", strings.Repeat("=", cells), strings.Repeat(" ", width-cells), 100*frac, size(n), size(t))
		fmt.Fprintf(&s, " %s/s", size(int64(rate)))
		if n > 0 && n < t {
			left := time.Duration(float64(t-n) / rate * float64(time.Second))
			fmt.Fprintf(&s, " ETA %s", left.Round(time.Second))
		}
		return s.String()
	}
	fmt.Fprintf(&s, " %s %s/s", size(n), size(int64(rate)))
	return s.String()
}

// size formats n with a binary unit.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/unit, 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[u])
}
