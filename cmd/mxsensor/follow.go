package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/store"
)

// liveLogs returns the live files of --reject-log arguments: a file names
// itself, a directory its rotation sets' current files (those that exist).
func liveLogs(args []string) ([]string, error) {
	var out []string
	err := eachLog(args, func(path string, inDir bool) error {
		if fi, err := os.Stat(path); !inDir || (err == nil && fi.Mode().IsRegular()) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// followStarts says where to follow each live log from: where the store
// says the last agent stopped, or the end of the file now (the history
// before it is read by the initial scan, which runs after this).
func followStarts(paths []string, st *store.Store, log *zap.Logger) map[string]rejectlog.Position {
	starts := map[string]rejectlog.Position{}
	for _, p := range paths {
		if st != nil {
			if s, ok, err := st.Position(p); err == nil && ok {
				var pos rejectlog.Position
				if json.Unmarshal([]byte(s), &pos) == nil {
					starts[p] = pos
					continue
				}
			}
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		pos, err := rejectlog.StartOfFile(p)
		if err != nil {
			log.Warn("reject log: cannot fingerprint", zap.String("file", p), zap.Error(err))
			continue
		}
		pos.Offset = fi.Size()
		starts[p] = pos
	}
	return starts
}

// followRejectLogs follows the live reject logs while the agent runs, so
// that rejections logged after it started label spammers too. Each batch's
// rejections go to the set and the store, and the store keeps the read
// position in the same commit, so a restart resumes where this stopped.
// The set forgets what its window can no longer use. count, if not nil,
// receives the parsers' counts of each batch (the metrics); garbage lines
// are also logged, at most once a minute per file. It returns a function
// that waits for the followers once ctx is done.
func followRejectLogs(ctx context.Context, starts map[string]rejectlog.Position, set *rejectlog.Set, st *store.Store, loc *time.Location,
	count func(rejectlog.Counters), log *zap.Logger) (wait func()) {
	var wg sync.WaitGroup
	for path, start := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := rejectlog.NewParser(rejectlog.Options{Location: loc})
			lastExpire, lastWarn := time.Now(), time.Time{}
			var seen, warned rejectlog.Counters
			err := rejectlog.Follow(ctx, rejectlog.FollowOptions{Path: path, Start: start, Logger: log.Named("rejectlog")}, func(b rejectlog.Batch) error {
				n := 0
				if b.Damage != nil {
					p.CountDamaged() // the follower has logged it
				}
				for _, line := range b.Lines {
					r, ok, _ := p.Parse(line)
					if !ok {
						continue
					}
					n++
					set.Add(r)
					if st != nil {
						if err := st.RecordRejection(r.IP, r.Time, r.Zone); err != nil {
							return err
						}
					}
				}
				if st != nil {
					state, _ := json.Marshal(b.Pos)
					if err := st.RecordPosition(path, string(state)); err != nil {
						return err
					}
				}
				if n > 0 {
					log.Debug("reject log: new rejections", zap.String("file", path), zap.Int("rejections", n))
				}
				now := p.Counters()
				if count != nil {
					count(now.Sub(seen))
				}
				seen = now
				if now.Garbage > warned.Garbage && time.Since(lastWarn) > time.Minute {
					d := now.Sub(warned)
					log.Warn("reject log: garbage lines skipped", zap.String("file", path), zap.Uint64("garbage", d.Garbage),
						zap.Uint64("too_long", d.TooLong), zap.Uint64("invalid_utf8", d.InvalidUTF8),
						zap.Uint64("control_chars", d.ControlChars), zap.Uint64("bad_timestamp", d.BadTimestamp), zap.Uint64("nul_runs", d.NULRuns))
					warned, lastWarn = now, time.Now()
				}
				if time.Since(lastExpire) > 10*time.Minute && set.Window > 0 {
					set.Expire(time.Now().Add(-set.Window - time.Hour))
					lastExpire = time.Now()
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				log.Error("reject log: following stopped", zap.String("file", path), zap.Error(err))
			}
		}()
	}
	return wg.Wait
}
