package agent

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrStopped is what a component used after its Stop returns (wrapped).
var ErrStopped = errors.New("component stopped")

// ErrNotStarted is what a component used before its Start returns (wrapped).
var ErrNotStarted = errors.New("component not started")

const (
	lifeNew int32 = iota
	lifeStarting
	lifeRunning
	lifeStopped
)

// life is where a component is in its lifecycle; the sinks consult it on
// every use, so that a write after Stop is refused, and counted, instead of
// reaching something closed.
type life struct {
	name    string
	state   atomic.Int32
	refused atomic.Uint64
}

// begin marks the start; a component starts once.
func (l *life) begin() error {
	if !l.state.CompareAndSwap(lifeNew, lifeStarting) {
		return fmt.Errorf("%s: started twice or after its stop", l.name)
	}
	return nil
}

// started ends the start: running, or (err, the component having undone
// what it had set up) stopped.
func (l *life) started(err error) {
	if err != nil {
		l.state.Store(lifeStopped)
	} else {
		l.state.Store(lifeRunning)
	}
}

// end marks the stop and reports whether the component was running (if
// not, Stop has nothing to do).
func (l *life) end() bool { return l.state.Swap(lifeStopped) == lifeRunning }

// use is nil while the component runs; otherwise the refusal, counted.
func (l *life) use() error {
	switch l.state.Load() {
	case lifeRunning:
		return nil
	case lifeStopped:
		l.refused.Add(1)
		return fmt.Errorf("%s: %w", l.name, ErrStopped)
	}
	l.refused.Add(1)
	return fmt.Errorf("%s: %w", l.name, ErrNotStarted)
}

// Refused counts the uses refused (before Start or after Stop).
func (l *life) Refused() uint64 { return l.refused.Load() }

// step is a component that does one thing at start and nothing at stop.
type step struct {
	life
	start func()
}

func (s *step) Start() error {
	if err := s.begin(); err != nil {
		return err
	}
	s.start()
	s.started(nil)
	return nil
}

func (s *step) Stop() error {
	s.end()
	return nil
}
