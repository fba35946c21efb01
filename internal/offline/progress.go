package offline

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ProgressConfig configures a Progress.
type ProgressConfig struct {
	// Task names the work in log records ("analyze" logs "analyze
	// progress").
	Task string
	// W is where the live line is drawn (stderr).
	W io.Writer
	// Log takes the progress records when no line is drawn.
	Log *zap.Logger
	// Console is set with the console log format: then, when W is a
	// terminal, progress is a live line on W.
	Console bool
	// Files are the files to read: their sizes are the whole.
	Files []string
}

// Progress shows how far a read of files is: the share read (by bytes),
// SYNs so far, their rate and the time left. On a terminal in the console
// log format it is a live line; otherwise (json, or not a terminal) a log
// record every progressEvery. A nil *Progress shows nothing.
type Progress struct {
	w          io.Writer
	log        *zap.Logger
	msg        string
	tty        bool
	start      time.Time
	last       time.Time
	totalBytes int64 // of all the files
	doneBytes  int64 // of the files finished
	syns       int
}

// progressEvery is how often progress is logged when it is not drawn.
const progressEvery = 10 * time.Second

// NewProgress starts showing progress as cfg says.
func NewProgress(cfg ProgressConfig) *Progress {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	p := &Progress{w: cfg.W, log: cfg.Log, msg: cfg.Task + " progress", start: time.Now()}
	if f, ok := cfg.W.(*os.File); ok && cfg.Console {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if !p.tty {
		p.last = p.start // the first record after progressEvery
	}
	for _, path := range cfg.Files {
		if st, err := os.Stat(path); err == nil {
			p.totalBytes += st.Size()
		}
	}
	return p
}

// Update reports that the current file has been read up to off bytes and
// syns SYNs of it handled.
func (p *Progress) Update(path string, off int64, syns int) {
	if p == nil {
		return
	}
	now := time.Now()
	if !p.tty {
		if now.Sub(p.last) >= progressEvery {
			p.last = now
			frac, eta := p.fraction(off, now.Sub(p.start))
			p.log.Info(p.msg, zap.String("file", path), zap.Float64("percent", math.Round(1000*frac)/10),
				zap.Int("syns", p.syns+syns), zap.Duration("left", eta))
		}
		return
	}
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+p.line(path, off, p.syns+syns, now.Sub(p.start))+"\033[K")
}

// fraction is the share of the files read, and the time left at this pace
// (negative while too little is read to tell).
func (p *Progress) fraction(off int64, elapsed time.Duration) (float64, time.Duration) {
	frac := 0.0
	if p.totalBytes > 0 && off >= 0 {
		frac = min(1, float64(p.doneBytes+off)/float64(p.totalBytes))
	}
	if frac <= 0.01 {
		return frac, -1
	}
	return frac, (time.Duration(float64(elapsed)/frac) - elapsed).Round(time.Second)
}

// line formats the progress bar.
func (p *Progress) line(path string, off int64, syns int, elapsed time.Duration) string {
	const width = 30
	frac, left := p.fraction(off, elapsed)
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	rate := float64(syns) / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if left >= 0 {
		eta = left.String()
	}
	return fmt.Sprintf("%s [%s] %3.0f%%  %d SYNs  %.0f SYN/s  left %s", filepath.Base(path), bar, 100*frac, syns, rate, eta)
}

// FileDone records that a file of size bytes and syns SYNs was read.
func (p *Progress) FileDone(size int64, syns int) {
	if p == nil {
		return
	}
	p.doneBytes += size
	p.syns += syns
}

// Done clears the live line (before a warning, and at the end).
func (p *Progress) Done() {
	if p != nil && p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
