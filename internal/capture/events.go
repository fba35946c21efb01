package capture

import (
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// EventReader turns a capture into SYN events with exactly the kernel's
// semantics: every frame goes through the Go mirror of the XDP program, and
// its counters tally what the program would have counted.
type EventReader struct {
	r        *Reader
	ref      *dataplane.Reference
	rec      dataplane.Record
	ev       synevent.Event
	Counters dataplane.Counters
}

// NewEventReader reads events from r as a sensor configured with cfg would
// record them. The capture's timestamps drive the rate limiter.
func NewEventReader(r *Reader, cfg dataplane.Config) *EventReader {
	return &EventReader{r: r, ref: dataplane.NewReference(cfg)}
}

// Next returns the next matched SYN, valid until the next call; io.EOF at
// the end, or the Reader's error (ErrTruncated for a cut-short file).
func (e *EventReader) Next() (*synevent.Event, error) {
	for {
		f, err := e.r.Next()
		if err != nil {
			return nil, err
		}
		res := e.ref.Run(f.Data, uint64(f.Time.UnixNano()), &e.rec)
		e.Counters[dataplane.CntPackets]++
		e.Counters[res.Outcome]++
		if res.Anomaly != dataplane.CounterNone {
			e.Counters[res.Anomaly]++
		}
		if !res.Matched {
			continue
		}
		e.Counters[dataplane.CntSynMatched]++
		e.Counters[dataplane.CntRecords]++
		e.ev.FromRecord(&e.rec, f.Time)
		e.ev.KernelNs = 0
		return &e.ev, nil
	}
}

// Stats are the underlying reader's statistics.
func (e *EventReader) Stats() Stats { return e.r.Stats() }
