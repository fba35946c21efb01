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
}

// DefaultConfig returns the defaults of `mxsensor run`.
func DefaultConfig() Config {
	return Config{
		XDPMode:       dataplane.AttachAuto,
		PinRoot:       dataplane.DefaultPinRoot,
		Dataplane:     dataplane.DefaultConfig(),
		FlushInterval: 200 * time.Millisecond,
		ClockSync:     time.Minute,
	}
}

// Sink consumes SYN events. Write must not retain ev after it returns.
type Sink interface {
	Write(ev *synevent.Event) error
	Flush() error
	Close() error
}

// Stats are the agent's own counters (the kernel keeps its own).
type Stats struct {
	Events     uint64 // records turned into events
	Short      uint64 // ring samples too short to be a record (skipped)
	SinkErrors uint64
}

// Sensor is one running agent.
type Sensor struct {
	cfg   Config
	log   *zap.Logger
	sinks []Sink
	stats Stats
}

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
	return &Sensor{cfg: cfg, log: log, sinks: sinks}, nil
}

// PinDir is where this sensor pins its objects.
func (s *Sensor) PinDir() string { return filepath.Join(s.cfg.PinRoot, s.cfg.Iface) }

// Stats returns the agent's counters (call after Run returns, or accept a racy read).
func (s *Sensor) Stats() Stats { return s.stats }

// Run loads, attaches and pins the program, drains events until ctx is done,
// then detaches, unpins and flushes. It returns the first fatal error.
func (s *Sensor) Run(ctx context.Context) (err error) {
	dir := s.PinDir()
	// Load first: without CAP_BPF this is where it fails, with an error
	// naming the capabilities, before anything touches bpffs or the NIC.
	objs, err := dataplane.Load(s.cfg.Dataplane)
	if err != nil {
		return err
	}
	defer objs.Close()
	if err := dataplane.EnsureBPFFS(s.cfg.PinRoot); err != nil {
		return err
	}
	if _, statErr := os.Stat(dir); statErr == nil {
		// Left by an agent that died without cleaning up (kill -9): its
		// pinned link keeps the old program attached. Take over.
		if err := dataplane.RemovePinned(dir); err != nil {
			return fmt.Errorf("removing stale sensor state: %w", err)
		}
		s.log.Warn("removed the pinned state of a sensor that did not shut down cleanly", zap.String("dir", dir))
	}

	att, err := dataplane.Attach(objs.Program(), s.cfg.Iface, s.cfg.XDPMode, s.log)
	if err != nil {
		return err
	}
	detached := false
	detach := func() error {
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
	defer func() {
		if derr := detach(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory: %w", err)
	}
	defer func() {
		// Unpin the maps and remove the directory; the link pin goes with Detach.
		_ = objs.Unpin()
		_ = os.Remove(dataplane.LinkPinPath(dir))
		if rerr := os.Remove(dir); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.log.Warn("could not remove pin directory", zap.String("dir", dir), zap.Error(rerr))
		}
	}()
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
	defer ring.Close()

	s.log.Info("sensor running",
		zap.String("iface", s.cfg.Iface), zap.Int("ifindex", att.Ifindex),
		zap.Stringer("xdp_mode", att.Mode), zap.Stringer("reply_mode", s.cfg.Dataplane.Mode),
		zap.Uint16s("ports", s.cfg.Dataplane.Ports), zap.String("pins", dir))
	if s.cfg.ReadyFile != "" {
		if err := os.WriteFile(s.cfg.ReadyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("writing ready file: %w", err)
		}
	}

	err = s.drain(ctx, ring, false)
	// Stop producing, then take what the program recorded in the meantime:
	// nothing recorded is left behind in the ring.
	if derr := detach(); derr != nil {
		err = errors.Join(err, derr)
	}
	if err == nil {
		err = s.drainRemaining(ring)
	}
	if ferr := s.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	for _, sk := range s.sinks {
		if cerr := sk.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	c, _, cerr := objs.ReadCounters()
	if cerr == nil {
		s.log.Info("sensor stopped", zap.Uint64("events", s.stats.Events),
			zap.Uint64("syn_matched", c[dataplane.CntSynMatched]), zap.Uint64("rst_sent", c[dataplane.CntRSTSent]),
			zap.Uint64("records_lost", c[dataplane.CntRecordsLost]))
	}
	return err
}

// drain is the hot loop: ring record -> event -> sinks, with no allocation
// per record. Sinks are flushed when the ring goes idle or FlushInterval
// passes. Live (final false), it returns soon after ctx is done even under a
// flood, so the caller can detach the program; final, it returns when the
// ring is empty.
func (s *Sensor) drain(ctx context.Context, ring *dataplane.RingReader, final bool) error {
	clock := dataplane.NewClock()
	var ev synevent.Event
	lastFlush, lastSync := time.Now(), time.Now()
	dirty := false
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
		if err != nil {
			if dataplane.IsTimeout(err) {
				if ctx.Err() != nil {
					return nil // ring drained after stop
				}
				if dirty {
					if err := s.flush(); err != nil {
						return err
					}
					dirty = false
				}
				now := time.Now()
				lastFlush = now
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
		s.stats.Events++
		for _, sk := range s.sinks {
			if err := sk.Write(&ev); err != nil {
				s.stats.SinkErrors++
				return fmt.Errorf("writing event: %w", err)
			}
		}
		dirty = true
		if s.stats.Events%1024 == 0 {
			if now := time.Now(); now.Sub(lastFlush) > s.cfg.FlushInterval {
				if err := s.flush(); err != nil {
					return err
				}
				lastFlush, dirty = now, false
			}
		}
		if !final && s.stats.Events%1024 == 0 && ctx.Err() != nil {
			return nil // stop requested while records keep coming
		}
		if ctx.Err() == nil && s.stats.Events%4096 == 0 {
			// Keep the idle-flush deadline ahead while records flow.
			ring.SetDeadline(time.Now().Add(s.cfg.FlushInterval))
		}
	}
}

// drainRemaining takes every record left in the ring without waiting for more.
func (s *Sensor) drainRemaining(ring *dataplane.RingReader) error {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	return s.drain(stopped, ring, true)
}

func (s *Sensor) flush() error {
	var errs []error
	for _, sk := range s.sinks {
		if err := sk.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
