package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/store"
)

// End is when the measurement cfg reads ended: the time of the last frame
// of its captures, or of the last SYN event its store kept, whichever is
// later; ok is false when there is neither. analyze infers the year of a
// reject log's classic syslog timestamps from it, so that a capture of
// 2014 meets its mail log's 2014 lines, not this year's. End reads every
// capture once (frames only, no SYN is decoded); a capture cut short ends
// at its last whole frame, as Feed reads it. A capture that is not a
// regular file (a pipe) can be read only once, by Feed: End leaves it out,
// with a warning.
func End(ctx context.Context, cfg Config) (end time.Time, ok bool, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	for _, path := range cfg.Captures {
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			cfg.Log.Warn("capture not a regular file: left out of the measurement's end, as it can be read only once", zap.String("file", path))
			continue
		}
		t, found, err := captureLast(ctx, path)
		if err != nil {
			return end, ok, err
		}
		if found && (!ok || t.After(end)) {
			end, ok = t, true
		}
	}
	if cfg.Store != "" {
		st, err := store.OpenReadOnly(cfg.Store)
		if err != nil {
			return end, ok, fmt.Errorf("reading stored SYNs: %w", err)
		}
		defer st.Close()
		t, found, err := st.LastSYN()
		if err != nil {
			return end, ok, err
		}
		if found && (!ok || t.After(end)) {
			end, ok = t, true
		}
	}
	return end, ok, nil
}

// captureLast is the latest frame time of the capture at path (frames may
// be out of order by a little, so the latest, not the last).
func captureLast(ctx context.Context, path string) (last time.Time, ok bool, err error) {
	r, err := capture.Open(path)
	if err != nil {
		return last, false, err
	}
	defer r.Close()
	for n := 0; ; n++ {
		f, err := r.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrLimit) {
			return last, ok, nil
		}
		if err != nil {
			return last, ok, fmt.Errorf("%s: %w", path, err)
		}
		if !ok || f.Time.After(last) {
			last, ok = f.Time, true
		}
		if n%checkEvery == 0 && ctx.Err() != nil {
			return last, ok, fmt.Errorf("%s: %w", path, ctx.Err())
		}
	}
}
