// Package sensor is the live agent: it loads the XDP program, attaches and
// pins it on one interface, drains the ring buffer into SYN events, hands
// them to sinks, and detaches cleanly when stopped.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Config is the agent's configuration.
type Config struct {
	Iface     string
	XDPMode   dataplane.AttachMode
	PinRoot   string // pins go to PinRoot/<iface>
	Dataplane dataplane.Config
	// FlushInterval bounds how long an event may sit in a sink's buffer.
	FlushInterval time.Duration
	// ClockSync is how often the monotonic-to-wall-clock offset is re-read.
	ClockSync time.Duration
	// ReadyFile, when set, is created once the program is attached (for tests
	// and supervisors that must not race the attach).
	ReadyFile string
	// DegradedHold is how long the agent reports itself degraded after
	// the ring last lost records, was more than half full, or the pipeline
	// last hit its memory bound.
	DegradedHold time.Duration
	// StopDrain bounds how long, once stopped and detached, the agent
	// drains what the ring still holds; records left then are counted
	// (Stats.LostAtStop). It keeps SIGTERM well within a supervisor's
	// timeout under a flood.
	StopDrain time.Duration
	// DropCaps gives up CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, for the
	// whole process, once the program is attached and pinned: nothing the
	// running sensor does needs them. Off for sensors that share a process
	// with others (tests), which could not attach afterwards.
	DropCaps bool
	// Prepare, when set, runs once everything that can fail at start has
	// (the program loaded, the interface found, the program attached and
	// pinned) and before any event reaches the sinks: the journal replay,
	// so that a start that fails writes nothing.
	Prepare func() error
}

// DefaultConfig returns the defaults of `mxsensor run`.
func DefaultConfig() Config {
	return Config{
		XDPMode:       dataplane.AttachAuto,
		PinRoot:       dataplane.DefaultPinRoot,
		Dataplane:     dataplane.DefaultConfig(),
		FlushInterval: 200 * time.Millisecond,
		ClockSync:     time.Minute,
		DegradedHold:  10 * time.Second,
		StopDrain:     3 * time.Second,
	}
}

// Pressured is a sink that can say it is handling work early to stay
// within its bounds (the pipeline at its held-memory bound): a count that
// grows while it does.
type Pressured interface {
	Pressure() uint64
}

// Sink consumes SYN events. Write must not retain ev after it returns.
// The sensor writes and flushes; whoever made the sink closes it, once the
// sensor has stopped.
type Sink interface {
	Write(ev *synevent.Event) error
	Flush() error
}

// Stats are the agent's own counters (the kernel keeps its own).
type Stats struct {
	Events     uint64 // ring records read and turned into events
	Written    uint64 // events every sink accepted
	Short      uint64 // ring samples too short to be a record (skipped)
	SinkErrors uint64 // sink write and flush errors (the event is lost for that sink; never fatal)
	// LostAtStop: records left in the ring when StopDrain ran out.
	LostAtStop uint64
}

// counters are Stats, updated by the draining goroutine and read by any.
type counters struct {
	events, written, short, sinkErrors, lostAtStop atomic.Uint64
}

// health is what the drain loop last found about the agent's load.
type health struct {
	checked  time.Time
	lost     uint64 // the kernel's records_lost at the last check
	lostSet  bool
	pressure uint64 // the sinks' Pressure sum at the last check
	until    time.Time
	why      string
}

// Sensor is one running agent.
type Sensor struct {
	cfg   Config
	log   *zap.Logger
	sinks []Sink
	stats counters
	// The draining goroutine's rate limit of sink-error warnings.
	lastSinkWarn  time.Time
	sinkErrsSince uint64

	// What Start set up, for Stop (one goroutine starts and stops).
	undo     []func() error
	detach   func() error
	cancel   context.CancelFunc // stops the drain loop; nil unless running
	drainErr error              // the drain loop's, read once done is closed
	ringOpen *dataplane.RingReader
	objsOpen *dataplane.Objects

	// What Start has attached, for readers on other goroutines (metrics,
	// health checks).
	mu     sync.RWMutex
	done   chan struct{}         // made by Start, closed when draining stops
	objs   *dataplane.Objects    // set while the ring is drained, until it is closed
	ring   *dataplane.RingReader // likewise
	mode   dataplane.AttachMode
	state  State
	reason string
	health health // the drain loop writes it, under mu
}

// State is where an agent is in its life.
type State int

// The states of an agent, in order.
const (
	StateStarting State = iota // New returned, program not attached yet
	StateRunning               // attached, draining the ring
	StateStopping              // stop requested: detaching, draining what is left
	StateStopped               // Stop returned without error
	StateFailed                // Start or Stop failed
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ErrNotAttached is returned by the live readers when no program is attached.
var ErrNotAttached = errors.New("sensor not attached")

// New checks cfg and returns an agent writing to sinks.
func New(cfg Config, log *zap.Logger, sinks ...Sink) (*Sensor, error) {
	if cfg.Iface == "" {
		return nil, errors.New("no interface given (--iface)")
	}
	if err := cfg.Dataplane.Validate(); err != nil {
		return nil, err
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.ClockSync <= 0 {
		cfg.ClockSync = time.Minute
	}
	if cfg.DegradedHold <= 0 {
		cfg.DegradedHold = 10 * time.Second
	}
	if cfg.StopDrain <= 0 {
		cfg.StopDrain = 3 * time.Second
	}
	return &Sensor{cfg: cfg, log: log, sinks: sinks}, nil
}

// PinDir is where this sensor pins its objects.
func (s *Sensor) PinDir() string { return filepath.Join(s.cfg.PinRoot, s.cfg.Iface) }

// Stats returns the agent's counters. It is safe to call from any
// goroutine, also while the sensor runs.
func (s *Sensor) Stats() Stats {
	c := &s.stats
	return Stats{Events: c.events.Load(), Written: c.written.Load(), Short: c.short.Load(), SinkErrors: c.sinkErrors.Load(),
		LostAtStop: c.lostAtStop.Load()}
}

// Health is Healthy, and also not ok while the agent is degraded: the ring
// lost records, was more than half full, or the pipeline handled work
// early to stay within its memory bound, in the last DegradedHold. It is
// what /healthz reports; Healthy is what /livez reports. It is safe to
// call from any goroutine.
func (s *Sensor) Health() (ok bool, reason string) {
	if ok, reason := s.Healthy(); !ok {
		return false, reason
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if time.Now().Before(s.health.until) {
		return false, "degraded: " + s.health.why
	}
	return true, ""
}

// ringUsage is what checkHealth reads of the ring.
type ringUsage interface {
	Size() int
	Pending() int
}

// checkHealth looks at the ring's losses and fill and at the sinks'
// pressure, at most once a second, from the drain loop.
func (s *Sensor) checkHealth(ring ringUsage, now time.Time) {
	s.mu.RLock()
	h, objs := s.health, s.objs
	s.mu.RUnlock()
	if now.Sub(h.checked) < time.Second {
		return
	}
	h.checked = now
	var why []string
	if objs != nil {
		if c, _, err := objs.ReadCounters(); err == nil {
			lost := c[dataplane.CntRecordsLost]
			if h.lostSet && lost > h.lost {
				why = append(why, fmt.Sprintf("ring full: %d SYN records lost in the last %s", lost-h.lost, time.Second))
			}
			h.lost, h.lostSet = lost, true
		}
	}
	if size, pending := ring.Size(), ring.Pending(); size > 0 && pending > size/2 {
		why = append(why, fmt.Sprintf("behind: the ring is %d%% full", 100*pending/size))
	}
	var p uint64
	for _, sk := range s.sinks {
		if ps, ok := sk.(Pressured); ok {
			p += ps.Pressure()
		}
	}
	if p > h.pressure {
		why = append(why, fmt.Sprintf("at the held-memory bound: %d attempts handled early in the last %s", p-h.pressure, time.Second))
	}
	h.pressure = p
	if len(why) > 0 {
		if !now.Before(h.until) {
			s.log.Warn("sensor degraded", zap.Strings("why", why))
		}
		h.until, h.why = now.Add(s.cfg.DegradedHold), strings.Join(why, "; ")
	}
	s.mu.Lock()
	s.health = h
	s.mu.Unlock()
}

// Healthy reports whether the agent is attached and draining the ring, and
// if not, why. It is safe to call from any goroutine.
func (s *Sensor) Healthy() (ok bool, reason string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch s.state {
	case StateRunning:
		return true, ""
	case StateStarting:
		return false, "starting: XDP program not attached yet"
	case StateStopping:
		return false, "stopping: detached, draining the ring before exit"
	case StateFailed:
		return false, "failed: " + s.reason
	}
	return false, s.state.String()
}

// Attachment reports the agent's state and, while the program is attached,
// the XDP attach mode.
func (s *Sensor) Attachment() (State, dataplane.AttachMode) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state, s.mode
}

// Config returns the agent's configuration.
func (s *Sensor) Config() Config { return s.cfg }

// KernelCounters reads the XDP program's counters, summed over CPUs. It is
// safe to call from any goroutine; it returns ErrNotAttached before the
// program is pinned and after Stop is done with it.
func (s *Sensor) KernelCounters() (dataplane.Counters, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.objs == nil {
		return dataplane.Counters{}, ErrNotAttached
	}
	c, _, err := s.objs.ReadCounters()
	return c, err
}

// RingUsage returns the ring's data size and the bytes the program wrote
// that the agent has not read yet. It is safe to call from any goroutine;
// it returns ErrNotAttached while the ring is not open.
func (s *Sensor) RingUsage() (size, pending int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ring == nil {
		return 0, 0, ErrNotAttached
	}
	return s.ring.Size(), s.ring.Pending(), nil
}

// publish makes the loaded objects and the open ring visible to the live
// readers (or hides them, with nils, before they are closed).
func (s *Sensor) publish(objs *dataplane.Objects, ring *dataplane.RingReader, mode dataplane.AttachMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs, s.ring, s.mode = objs, ring, mode
}

func (s *Sensor) setState(st State, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
	if err != nil {
		s.reason = err.Error()
	}
}

// Start loads, attaches and pins the program, runs Config.Prepare, drains
// what a dead sensor left, and starts draining the ring into the sinks.
// It returns once the sensor is running, or with the first error (then
// what it had set up is undone). Done is closed if draining stops on its
// own (a fatal error, returned by Stop).
func (s *Sensor) Start() (err error) {
	s.mu.Lock()
	started := s.done != nil
	if !started {
		s.done = make(chan struct{})
	}
	s.mu.Unlock()
	if started {
		return errors.New("sensor started twice")
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.undoAll())
			close(s.done)
			s.setState(StateFailed, err)
		}
	}()
	dir := s.PinDir()
	// Load first: without CAP_BPF this is where it fails, with an error
	// naming the capabilities, before anything touches bpffs or the NIC.
	objs, err := dataplane.Load(s.cfg.Dataplane)
	if err != nil {
		return err
	}
	s.onStop(func() error { return objs.Close() })
	if err := dataplane.EnsureBPFFS(s.cfg.PinRoot); err != nil {
		return err
	}
	var stale *dataplane.RingReader
	if _, statErr := os.Stat(dir); statErr == nil {
		// Left by an agent that died without cleaning up (kill -9): its
		// pinned link keeps the old program attached, recording into its
		// ring with nobody draining it. Take over: hold the old ring,
		// remove the pins (which detaches the old program), then drain the
		// ring, so the SYNs of the downtime are not lost.
		if old, oerr := dataplane.OpenPinned(dir); oerr == nil {
			if stale, oerr = old.Ring(); oerr != nil {
				s.log.Warn("cannot read the ring a dead sensor left", zap.Error(oerr))
			}
			s.onStop(func() error { return old.Close() })
		}
		if err := dataplane.RemovePinned(dir); err != nil {
			if stale != nil {
				stale.Close()
			}
			return fmt.Errorf("removing stale sensor state: %w", err)
		}
		s.log.Warn("removed the pinned state of a sensor that did not shut down cleanly", zap.String("dir", dir))
		if stale != nil {
			// Drained once the new program is attached and Prepare has
			// run: its SYNs are newer than the journal's.
			s.onStop(func() error { return stale.Close() })
		}
	}

	att, err := dataplane.Attach(objs.Program(), s.cfg.Iface, s.cfg.XDPMode, s.log)
	if err != nil {
		return err
	}
	detached := false
	s.detach = func() error {
		if detached {
			return nil
		}
		detached = true
		if err := att.Detach(); err != nil {
			return err
		}
		s.log.Info("detached XDP program", zap.String("iface", s.cfg.Iface))
		return nil
	}
	s.onStop(func() error { return s.detach() })

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory: %w", err)
	}
	s.onStop(func() error {
		// Unpin the maps and remove the directory; the link pin goes with Detach.
		_ = objs.Unpin()
		_ = os.Remove(dataplane.LinkPinPath(dir))
		if rerr := os.Remove(dir); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.log.Warn("could not remove pin directory", zap.String("dir", dir), zap.Error(rerr))
		}
		return nil
	})
	if err := objs.WriteInfo(dataplane.Info{Start: time.Now(), RingSize: uint64(s.cfg.Dataplane.RingSize),
		Ifindex: uint32(att.Ifindex), Ifname: s.cfg.Iface, PID: uint32(os.Getpid()),
		AttachMode: att.Mode, Mode: s.cfg.Dataplane.Mode}); err != nil {
		return err
	}
	if err := objs.Pin(dir); err != nil {
		return err
	}
	if err := att.Pin(dataplane.LinkPinPath(dir)); err != nil {
		return err
	}

	ring, err := dataplane.NewRingReader(objs.Events())
	if err != nil {
		return err
	}
	s.onStop(func() error { return ring.Close() })
	if err := s.dropCaps(objs, att); err != nil {
		return err
	}
	// Nothing has been written yet: a start that failed up to here leaves
	// no output behind.
	if s.cfg.Prepare != nil {
		if err := s.cfg.Prepare(); err != nil {
			return err
		}
	}
	if stale != nil {
		before := s.stats.events.Load()
		if err := s.drainRemaining(stale); err != nil {
			return fmt.Errorf("draining the ring a dead sensor left: %w", err)
		}
		s.log.Info("drained the ring a dead sensor left", zap.Uint64("events", s.stats.events.Load()-before))
	}
	// Hidden again before the ring and the objects are closed (undone in
	// reverse).
	s.publish(objs, ring, att.Mode)
	s.onStop(func() error { s.publish(nil, nil, 0); return nil })

	s.log.Info("sensor running",
		zap.String("iface", s.cfg.Iface), zap.Int("ifindex", att.Ifindex),
		zap.Stringer("xdp_mode", att.Mode), zap.Stringer("reply_mode", s.cfg.Dataplane.Mode),
		zap.Uint16s("ports", s.cfg.Dataplane.Ports), zap.String("pins", dir))
	// Healthy from here on: whoever waits for the ready file sees it so.
	s.setState(StateRunning, nil)
	if s.cfg.ReadyFile != "" {
		if err := os.WriteFile(s.cfg.ReadyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("writing ready file: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.ringOpen, s.objsOpen = cancel, ring, objs
	go func() {
		defer close(s.done)
		s.drainErr = s.drain(ctx, ring, false)
	}()
	return nil
}

// dropCaps gives up the capabilities of loading and attaching, if
// configured to and nothing still needs them (then it says why).
func (s *Sensor) dropCaps(objs *dataplane.Objects, att *dataplane.Attachment) error {
	if !s.cfg.DropCaps {
		return nil
	}
	if att.DetachNeedsCaps() {
		s.log.Warn("keeping CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: the program was attached through netlink (no XDP bpf_link in this kernel), and detaching it needs CAP_NET_ADMIN")
		return nil
	}
	dropped, err := dataplane.DropAttachCapabilities(func() error { _, _, err := objs.ReadCounters(); return err })
	if errors.Is(err, dataplane.ErrCapsNeeded) {
		s.log.Warn("keeping CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON", zap.Error(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	if dropped {
		s.log.Info("dropped CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON")
	}
	return nil
}

// Done is closed when the sensor stops draining: after Stop, or on its own
// on a fatal error (which Stop returns). Nil before Start.
func (s *Sensor) Done() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.done
}

// Stop stops draining, detaches the program, takes what the ring still
// holds (for at most Config.StopDrain), flushes the sinks (their owners
// close them) and unpins. It returns the first fatal error. A sensor never
// started, or stopped already, is left alone.
func (s *Sensor) Stop() (err error) {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	<-s.done
	err = s.drainErr
	s.setState(StateStopping, nil)
	// Stop producing, then take what the program recorded in the meantime:
	// nothing recorded is left behind in the ring.
	if derr := s.detach(); derr != nil {
		err = errors.Join(err, derr)
	}
	stopping := time.Now()
	if err == nil {
		err = s.drainRemaining(s.ringOpen)
	}
	drained := time.Now()
	if ferr := s.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	c, _, cerr := s.objsOpen.ReadCounters()
	if cerr == nil {
		s.log.Info("sensor stopped", zap.Uint64("events", s.stats.events.Load()),
			zap.Uint64("syn_matched", c[dataplane.CntSynMatched]), zap.Uint64("rst_sent", c[dataplane.CntRSTSent]),
			zap.Uint64("records_lost", c[dataplane.CntRecordsLost]), zap.Uint64("lost_at_stop", s.stats.lostAtStop.Load()),
			zap.Duration("drain", drained.Sub(stopping)))
	}
	err = errors.Join(err, s.undoAll())
	if err != nil {
		s.setState(StateFailed, err)
	} else {
		s.setState(StateStopped, nil)
	}
	return err
}

// onStop adds what Stop (or a failed Start) undoes, in reverse order.
func (s *Sensor) onStop(fn func() error) { s.undo = append(s.undo, fn) }

// undoAll undoes what Start set up, last first.
func (s *Sensor) undoAll() error {
	var err error
	for i := len(s.undo) - 1; i >= 0; i-- {
		err = errors.Join(err, s.undo[i]())
	}
	s.undo = nil
	return err
}

// drain is the hot loop: ring record -> event -> sinks, with no allocation
// per record. Sinks are flushed when the ring goes idle or FlushInterval
// passes. Live (final false), it returns soon after ctx is done even under a
// flood, so the caller can detach the program; final, it returns when the
// ring is empty.
func (s *Sensor) drain(ctx context.Context, ring *dataplane.RingReader, final bool) error {
	return s.drainUntil(ctx, ring, final, time.Time{})
}

// drainUntil is drain; final, it also gives up at deadline (if not zero)
// and counts what the ring still holds as lost at stop.
func (s *Sensor) drainUntil(ctx context.Context, ring *dataplane.RingReader, final bool, deadline time.Time) error {
	clock := dataplane.NewClock()
	var ev synevent.Event
	lastFlush, lastSync := time.Now(), time.Now()
	var n uint64        // records taken in this call, for the periodic work
	burst := 0          // records read since the ring was last empty
	short := ring.Short // mirrored into the atomic counters when it moves
	// A deadline is always armed: Next returns at least every FlushInterval,
	// which both flushes idle sinks and notices a stop request. Once stopped,
	// Next returns as soon as the ring is empty.
	if ctx.Err() != nil {
		ring.SetDeadline(time.Now())
	} else {
		ring.SetDeadline(time.Now().Add(s.cfg.FlushInterval))
	}
	for {
		rec, err := ring.Next()
		if ring.Short != short {
			short = ring.Short
			s.stats.short.Store(short)
		}
		if err != nil {
			if dataplane.IsTimeout(err) {
				if ctx.Err() != nil {
					return nil // ring drained after stop
				}
				// Flushed even when nothing came: the live pipeline closes
				// idle attempts and decides on this tick, so a quiet
				// sensor's results do not wait for the next SYN.
				s.flushSinks()
				now := time.Now()
				lastFlush = now
				s.checkHealth(ring, now)
				if now.Sub(lastSync) > s.cfg.ClockSync {
					clock.Sync()
					lastSync = now
				}
				ring.SetDeadline(now.Add(s.cfg.FlushInterval))
				continue
			}
			if errors.Is(err, dataplane.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading ring buffer: %w", err)
		}
		ev.FromRecord(rec, clock.Wall(rec.TsNs))
		n++
		s.stats.events.Add(1)
		// A sink that cannot take the event (its disk is full) loses it,
		// counted; the others and the ring go on.
		ok := true
		for _, sk := range s.sinks {
			if err := sk.Write(&ev); err != nil {
				ok = false
				s.sinkFailed(err)
			}
		}
		if ok {
			s.stats.written.Add(1)
		}
		if n%1024 == 0 {
			if now := time.Now(); now.Sub(lastFlush) > s.cfg.FlushInterval {
				s.flushSinks()
				lastFlush = now
				s.checkHealth(ring, now)
			}
			if final && !deadline.IsZero() && time.Now().After(deadline) {
				// Each record also takes the ring's 8-byte header, 8-aligned.
				left := uint64(ring.Pending()) / ((dataplane.RecordSize + 8 + 7) &^ 7)
				s.stats.lostAtStop.Add(left)
				s.log.Warn("stopped draining the ring: the stop time ran out; the records left are lost",
					zap.Uint64("records_left", left), zap.Duration("stop_drain", s.cfg.StopDrain))
				return nil
			}
		}
		if !final && n%1024 == 0 && ctx.Err() != nil {
			return nil // stop requested while records keep coming
		}
		if ctx.Err() == nil && n%4096 == 0 {
			// Keep the idle-flush deadline ahead while records flow.
			ring.SetDeadline(time.Now().Add(s.cfg.FlushInterval))
		}
		// Under load, the reader would otherwise catch up with the program
		// after every few records and go back to epoll_wait, one system
		// call per handful of SYNs (most of the agent's CPU in a flood).
		// When a burst has just been drained, pause briefly so that the next
		// read finds a batch waiting. Light traffic (short bursts) is read
		// at once.
		burst++
		if ring.Remaining() == 0 {
			if burst >= busyBurst && !final && ctx.Err() == nil {
				time.Sleep(busyPause)
			}
			burst = 0
		}
	}
}

// A drained burst of at least busyBurst records means the sensor is busy:
// the reader then pauses busyPause before reading on. At 1 M SYNs/s, 1 ms
// is 136 KB of a 16 MiB ring.
const (
	busyBurst = 32
	busyPause = time.Millisecond
)

// drainRemaining takes every record left in the ring without waiting for
// more, for at most StopDrain.
func (s *Sensor) drainRemaining(ring *dataplane.RingReader) error {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	return s.drainUntil(stopped, ring, true, time.Now().Add(s.cfg.StopDrain))
}

// flushSinks flushes the sinks while the agent runs: an error is counted
// and logged, never fatal (the sink retries on its own).
func (s *Sensor) flushSinks() {
	for _, sk := range s.sinks {
		if err := sk.Flush(); err != nil {
			s.sinkFailed(err)
		}
	}
}

// sinkFailed counts a sink error and logs it, at most once per
// sinkWarnEvery with the count since.
func (s *Sensor) sinkFailed(err error) {
	s.stats.sinkErrors.Add(1)
	s.sinkErrsSince++
	if now := time.Now(); s.lastSinkWarn.IsZero() || now.Sub(s.lastSinkWarn) >= sinkWarnEvery {
		s.log.Warn("sink error: the event is lost for that sink, the agent goes on",
			zap.Uint64("errors", s.sinkErrsSince), zap.Error(err))
		s.lastSinkWarn, s.sinkErrsSince = now, 0
	}
}

// sinkWarnEvery rate-limits the warnings of failing sinks.
const sinkWarnEvery = 10 * time.Second

func (s *Sensor) flush() error {
	var errs []error
	for _, sk := range s.sinks {
		if err := sk.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
