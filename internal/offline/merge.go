package offline

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

const (
	// mergeBatch is the SYNs a capture's reader hands over at once: the
	// channel costs nothing per SYN.
	mergeBatch = 256
	// mergeBatches bounds the batches of one capture (filled, queued,
	// being merged): what reading ahead may hold.
	mergeBatches = 3
)

// events is a batch of one capture's SYNs; err, if set, ends the
// capture after them.
type events struct {
	evs []synevent.Event
	err error
}

// source reads one capture on its own goroutine.
type source struct {
	path string
	ch   chan *events // filled batches, closed after the last
	free chan *events // empty batches
	cur  *events      // being merged
	i    int          // next SYN of cur
}

// feedMerged reads the captures at once, one goroutine each (decoding and
// decompressing in parallel), and writes their SYNs to sink merged by
// time, the capture given first first on a tie: captures one after the
// other in time give what reading them in turn gives, captures of the
// same time (two interfaces, two sensors) interleave. A capture cut short
// is warned about and ends there; any other error stops the feed.
func feedMerged(ctx context.Context, cfg Config, sink Sink) error {
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // the readers still reading stop
		wg.Wait()
	}()
	srcs := make([]*source, len(cfg.Captures))
	for i, path := range cfg.Captures {
		s := &source{path: path, ch: make(chan *events, mergeBatches), free: make(chan *events, mergeBatches)}
		for range mergeBatches {
			s.free <- &events{evs: make([]synevent.Event, 0, mergeBatch)}
		}
		srcs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.read(rctx, cfg)
		}()
	}
	// live are the captures with SYNs still to merge, each at its next.
	live := make([]*source, 0, len(srcs))
	for _, s := range srcs {
		if ok, err := s.next(); err != nil {
			return err
		} else if ok {
			live = append(live, s)
		}
	}
	// A reader cut short by ctx ends its capture as if it were whole: the
	// merge must say it was interrupted, not done.
	stopped := func(n int) error {
		if ctx.Err() != nil {
			return interrupted(strings.Join(cfg.Captures, ", "), n)
		}
		return nil
	}
	n := 0
	for ; len(live) > 0; n++ {
		// The earliest next SYN; few captures: a scan beats a heap.
		k := 0
		for j := 1; j < len(live); j++ {
			if live[j].peek().Time.Before(live[k].peek().Time) {
				k = j
			}
		}
		s := live[k]
		if err := sink.Write(s.peek()); err != nil {
			return err
		}
		if n%checkEvery == 0 && ctx.Err() != nil {
			return interrupted(strings.Join(cfg.Captures, ", "), n)
		}
		s.i++
		ok, err := s.next()
		if err != nil {
			return err
		}
		if !ok {
			if err := stopped(n + 1); err != nil { // this SYN was written
				return err
			}
			live = slices.Delete(live, k, k+1) // the order stays: the tie-break
		}
	}
	return stopped(n)
}

func (s *source) peek() *synevent.Event { return &s.cur.evs[s.i] }

// next makes peek the next SYN of the capture; false at its end, or the
// error that ended it.
func (s *source) next() (bool, error) {
	for s.cur == nil || s.i == len(s.cur.evs) {
		if s.cur != nil {
			if s.cur.err != nil {
				return false, s.cur.err
			}
			s.free <- s.cur // never full: the batch came from it
		}
		b, ok := <-s.ch
		if !ok {
			s.cur = nil
			return false, nil
		}
		s.cur, s.i = b, 0
	}
	return true, nil
}

// read decodes the capture into batches until its end, an error, or ctx
// is done.
func (s *source) read(ctx context.Context, cfg Config) {
	defer close(s.ch)
	b := s.take(ctx)
	if b == nil {
		return
	}
	r, err := capture.OpenCounting(s.path, cfg.Read)
	if err != nil {
		b.err = err
		s.put(ctx, b)
		return
	}
	defer r.Close()
	er := capture.NewEventReader(r, cfg.Dataplane)
	for {
		ev, err := er.Next()
		if err != nil {
			b.err = captureEnd(s.path, err, cfg.Log)
			s.put(ctx, b)
			return
		}
		b.evs = append(b.evs, *ev)
		if len(b.evs) == mergeBatch {
			if !s.put(ctx, b) {
				return
			}
			if b = s.take(ctx); b == nil {
				return
			}
		}
	}
}

// take returns an empty batch, nil once ctx is done.
func (s *source) take(ctx context.Context) *events {
	select {
	case b := <-s.free:
		b.evs, b.err = b.evs[:0], nil
		return b
	case <-ctx.Done():
		return nil
	}
}

// put hands a batch to the merger; false once ctx is done.
func (s *source) put(ctx context.Context, b *events) bool {
	select {
	case s.ch <- b:
		return true
	case <-ctx.Done():
		return false
	}
}
