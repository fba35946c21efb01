package rejectlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// PositionStore keeps where a [Follower] stands in each log it follows:
// an opaque state string per log file. The results store implements it
// (positions committed with the rejections), and so does [StateFile].
type PositionStore interface {
	// Position returns the state last recorded for file; ok is false when
	// there is none.
	Position(file string) (state string, ok bool, err error)
	// RecordPosition records the state after the last delivered batch.
	RecordPosition(file, state string) error
}

// FollowerConfig configures a [Follower].
type FollowerConfig struct {
	// Path is the live log file.
	Path string
	// Positions, if not nil, gives where to resume and records the
	// position after each batch, once Handle has returned.
	Positions PositionStore
	// FromStart: without a recorded position, begin at the start of the
	// live file (and record that starting point before reading); else at
	// its end as it is when the follower is made (the history before it is
	// somebody else's to read).
	FromStart bool
	// Parser parses the lines; nil means NewParser(Options).
	Parser  *Parser
	Options Options
	// Poll is the interval between looks at an idle file; zero is 200ms.
	Poll time.Duration
	// QuietSave: a batch without rejections is recorded at most this often
	// (and when the follower moves to a new file, and on return): read
	// again after a crash, it yields nothing. Zero records every batch.
	QuietSave time.Duration
	// Handle receives each batch's rejections (possibly none); the slice
	// is reused once it returns. An error stops the follower.
	Handle func(rs []Rejection) error
	// Log gets rotations and, at most once a minute, the garbage skipped;
	// nil means none.
	Log *zap.Logger
}

// Follower follows one live log across rotation and restarts: it parses
// each batch, hands the rejections to Handle and then records the position
// after the batch, so a restart resumes where the last batch ended.
type Follower struct {
	cfg   FollowerConfig
	p     *Parser
	log   *zap.Logger
	start Position
	fresh bool // no recorded position: record start before reading

	mu     sync.Mutex
	counts Counters // the parser's, as of the last batch
}

// NewFollower settles where the follower starts: the recorded position, or
// (see FollowerConfig.FromStart) the start or the end of the live file now.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	f := &Follower{cfg: cfg, p: cfg.Parser, log: cfg.Log}
	if f.p == nil {
		f.p = NewParser(cfg.Options)
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	if cfg.Positions != nil {
		state, ok, err := cfg.Positions.Position(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("position in %s: %w", cfg.Path, err)
		}
		if ok {
			if err := json.Unmarshal([]byte(state), &f.start); err == nil && f.start.valid() {
				return f, nil
			}
			f.log.Warn("reject log: recorded position unreadable, starting afresh", zap.String("file", cfg.Path))
			f.start = Position{}
		}
	}
	switch {
	case cfg.FromStart && cfg.Positions == nil:
		// The zero Position: the beginning of whatever the live file is.
	case cfg.FromStart:
		pos, err := StartOfFile(cfg.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("start of %s: %w", cfg.Path, err)
		}
		f.start, f.fresh = pos, true
	default:
		fi, err := os.Stat(cfg.Path)
		if err != nil {
			return nil, err
		}
		pos, err := StartOfFile(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("fingerprinting %s: %w", cfg.Path, err)
		}
		pos.Offset = fi.Size()
		f.start = pos
	}
	return f, nil
}

// Path is the log followed.
func (f *Follower) Path() string { return f.cfg.Path }

// Counters are the parser's counts as of the last batch. Safe from any
// goroutine.
func (f *Follower) Counters() Counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// Run follows the log until ctx is done (it returns nil) or Handle or the
// PositionStore fails (it returns the error). Run once.
func (f *Follower) Run(ctx context.Context) error {
	if f.fresh {
		if err := f.record(f.start); err != nil {
			return err
		}
	}
	var (
		rs        []Rejection
		unsaved   *Position // a newer position not recorded yet
		lastSaved = time.Now()
		lastWarn  time.Time
		warned    Counters
	)
	err := Follow(ctx, FollowOptions{Path: f.cfg.Path, Start: f.start, Poll: f.cfg.Poll, Logger: f.log}, func(b Batch) error {
		if b.Damage != nil {
			f.p.CountDamaged() // Follow has logged it
		}
		rs = rs[:0]
		for _, line := range b.Lines {
			if r, ok, _ := f.p.Parse(line); ok {
				rs = append(rs, r)
			}
		}
		if f.cfg.Handle != nil {
			if err := f.cfg.Handle(rs); err != nil {
				return err
			}
		}
		now := f.p.Counters()
		f.mu.Lock()
		f.counts = now
		f.mu.Unlock()
		if now.Garbage > warned.Garbage && time.Since(lastWarn) > time.Minute {
			d := now.Sub(warned)
			f.log.Warn("reject log: garbage lines skipped", zap.String("file", f.cfg.Path), zap.Uint64("garbage", d.Garbage),
				zap.Uint64("too_long", d.TooLong), zap.Uint64("invalid_utf8", d.InvalidUTF8),
				zap.Uint64("control_chars", d.ControlChars), zap.Uint64("bad_timestamp", d.BadTimestamp), zap.Uint64("nul_runs", d.NULRuns))
			warned, lastWarn = now, time.Now()
		}
		if len(rs) == 0 && len(b.Lines) > 0 && time.Since(lastSaved) < f.cfg.QuietSave {
			pos := b.Pos
			unsaved = &pos
			return nil
		}
		unsaved, lastSaved = nil, time.Now()
		return f.record(b.Pos)
	})
	if err == nil && unsaved != nil {
		err = f.record(*unsaved)
	}
	return err
}

// record hands pos to the PositionStore, if any.
func (f *Follower) record(pos Position) error {
	if f.cfg.Positions == nil {
		return nil
	}
	state, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return f.cfg.Positions.RecordPosition(f.cfg.Path, string(state))
}

// StateFile is a [PositionStore] kept in a file of its own, for one log
// (see [SaveState]): the position after the last batch and, with
// OutputLen, the length of the output written up to it, replaced together
// atomically.
type StateFile struct {
	Path      string
	OutputLen func() int64
}

// Position implements PositionStore.
func (s StateFile) Position(string) (string, bool, error) {
	st, found, err := LoadState(s.Path)
	if err != nil || !found {
		return "", false, err
	}
	b, err := json.Marshal(st.Position)
	return string(b), true, err
}

// RecordPosition implements PositionStore.
func (s StateFile) RecordPosition(_, state string) error {
	var st SinkState
	if err := json.Unmarshal([]byte(state), &st.Position); err != nil {
		return fmt.Errorf("state file %s: %w", s.Path, err)
	}
	if s.OutputLen != nil {
		st.OutputLen = s.OutputLen()
	}
	return SaveState(s.Path, st)
}
