// Package offline is the offline front end of analyze: it feeds the SYNs
// of capture files, or those a store kept, in order to a sink (the
// measurement pipeline, or fingerprint's line writer), and counts the
// bytes it read for a progress bar.
package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Sink takes the SYN events, in the order read.
type Sink interface {
	Write(ev *synevent.Event) error
}

// SinkFunc is a function as a Sink.
type SinkFunc func(ev *synevent.Event) error

// Write calls f.
func (f SinkFunc) Write(ev *synevent.Event) error { return f(ev) }

// Config says what Feed reads.
type Config struct {
	// Captures are capture files (pcap or pcapng, gzip allowed), read in
	// this order.
	Captures []string
	// Merge reads the captures at once instead, merged by time (see
	// feedMerged): analyze, whose grouping wants the SYNs in time order.
	Merge bool
	// Dataplane selects the captures' SYNs as the sensor would (its
	// ports).
	Dataplane dataplane.Config
	// Store is a store whose kept SYN events are read after the captures
	// ("" = none).
	Store string
	// Read counts the bytes read of the captures, for a progress bar;
	// nil counts nothing.
	Read *atomic.Int64
	// Log takes the warnings (a capture cut short, stored events that do
	// not parse); nil discards them.
	Log *zap.Logger
}

// Dataplane is how the captures' SYNs are selected: as the sensor in
// observe mode on ports would record them, every one of them whatever the
// live rate limiter would have done.
func Dataplane(ports []uint16) (dataplane.Config, error) {
	dp := dataplane.DefaultConfig()
	dp.Mode = dataplane.ModeObserve
	dp.RateLimit = 0
	dp.Ports = ports
	if err := dp.Validate(); err != nil {
		return dp, err
	}
	return dp, nil
}

// checkEvery is how many SYNs go by between two looks at the context:
// often enough for Ctrl-C, rarely enough to cost nothing.
const checkEvery = 8192

// Feed writes the SYNs of cfg's captures (in turn, or merged by time),
// then of its store, to sink. A
// capture cut short (or whose next block claims more than a limit) is
// warned about and its SYNs before the cut are kept. When ctx is done Feed
// stops with an error saying how far it got; what sink was given stays.
func Feed(ctx context.Context, cfg Config, sink Sink) error {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Merge && len(cfg.Captures) > 1 {
		if err := feedMerged(ctx, cfg, sink); err != nil {
			return err
		}
	} else {
		for _, path := range cfg.Captures {
			if err := feedCapture(ctx, cfg, path, sink); err != nil {
				return err
			}
		}
	}
	if cfg.Store != "" {
		return feedStore(ctx, cfg.Store, sink, cfg.Log)
	}
	return nil
}

func interrupted(path string, n int) error {
	return fmt.Errorf("%s: interrupted after %d SYNs (results so far are written)", path, n)
}

func feedCapture(ctx context.Context, cfg Config, path string, sink Sink) error {
	r, err := capture.OpenCounting(path, cfg.Read)
	if err != nil {
		return err
	}
	defer r.Close()
	er := capture.NewEventReader(r, cfg.Dataplane)
	for n := 0; ; n++ {
		ev, err := er.Next()
		if err != nil {
			return captureEnd(path, err, cfg.Log)
		}
		if err := sink.Write(ev); err != nil {
			return err
		}
		if n%checkEvery == 0 {
			if ctx.Err() != nil {
				return interrupted(path, n)
			}
		}
	}
}

// captureEnd is what an error of a capture's EventReader means: its end
// (nil), a cut (nil: the file was cut off, or its next block claims more
// than a limit; what came before is kept, the rest of the file is lost,
// and a warning says so), or an error that stops the feed.
func captureEnd(path string, err error, log *zap.Logger) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	if errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrLimit) {
		log.Warn("capture cut short: the SYNs before were kept, the rest of the file is lost", zap.String("file", path), zap.Error(err))
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// feedStore writes the SYN events the store at path kept to sink.
func feedStore(ctx context.Context, path string, sink Sink, log *zap.Logger) error {
	st, err := store.OpenReadOnly(path)
	if err != nil {
		return fmt.Errorf("reading stored SYNs: %w", err)
	}
	defer st.Close()
	n := 0
	skipped, err := st.SYNEvents(func(ev *synevent.Event) error {
		n++
		if n%checkEvery == 0 && ctx.Err() != nil {
			return interrupted(path, n)
		}
		return sink.Write(ev)
	})
	if skipped > 0 {
		log.Warn("stored SYN events that do not parse were skipped", zap.String("file", path), zap.Int("skipped", skipped))
	}
	return err
}
