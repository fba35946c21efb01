package capture

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// ReadFiles reads the captures at paths in turn as a sensor configured
// with cfg would have recorded them (see EventReader), handing each SYN
// event to emit. It logs what it read of each file and warns of a capture
// cut short, whose whole frames are kept; it returns the data plane's
// counters over every file and the number of captures cut short. The bytes
// read of the files are added to read (nil: not counted) for a progress
// bar.
func ReadFiles(paths []string, cfg dataplane.Config, read *atomic.Int64, log *zap.Logger, emit func(*synevent.Event) error) (total dataplane.Counters, truncated int, err error) {
	for _, path := range paths {
		cut, err := readCapture(path, cfg, read, log, emit, &total)
		if err != nil {
			return total, truncated, err
		}
		if cut {
			truncated++
		}
	}
	return total, truncated, nil
}

func readCapture(path string, cfg dataplane.Config, read *atomic.Int64, log *zap.Logger, emit func(*synevent.Event) error, total *dataplane.Counters) (cut bool, err error) {
	r, err := OpenCounting(path, read)
	if err != nil {
		return false, err
	}
	defer r.Close()
	er := NewEventReader(r, cfg)
	var n uint64
	for {
		ev, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrTruncated) {
			cut = true
			log.Warn("capture cut short: the whole frames before were kept", zap.String("file", path), zap.Uint64("frames_kept", er.Stats().Frames), zap.Error(err))
			break
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if err := emit(ev); err != nil {
			return false, err
		}
		n++
	}
	st := er.Stats()
	log.Info("capture read", zap.String("file", path), zap.Uint64("frames", st.Frames), zap.Uint64("syn_events", n),
		zap.Uint64("skipped", st.Skipped.Total()), zap.Inline(st.Skipped))
	total.Add(&er.Counters)
	return cut, nil
}

// MarshalLogObject writes the counts of skipped records that are not zero
// as log fields, each named skipped_REASON.
func (s Skipped) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, r := range []struct {
		name string
		n    uint64
	}{{"skipped_empty", s.Empty}, {"skipped_short", s.Short}, {"skipped_unknown_protocol", s.UnknownProtocol},
		{"skipped_unsupported_link_type", s.UnsupportedLinkType}, {"skipped_oversized", s.Oversized}} {
		if r.n > 0 {
			enc.AddUint64(r.name, r.n)
		}
	}
	return nil
}
