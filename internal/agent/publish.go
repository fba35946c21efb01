package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// PublishConfig is the publisher to the network of sensors (run
// --publish): its records wait in the store's outbox, bounded by
// OutboxSize.
type PublishConfig struct {
	publish.Config
	OutboxSize int64 // 0: unbounded
}

// publishPart sends the sensor's records to the NATS servers: a sink of
// the pipeline, the reject logs and (with --publish-syns) the sensor, that
// puts them in the store's outbox; the drain never waits for the network.
type publishPart struct {
	life
	cfg      publish.Config
	store    *storePart
	counters func() map[string]uint64
	log      *zap.Logger
	p        atomic.Pointer[publish.Publisher]
}

func newPublishPart(cfg publish.Config, st *storePart, counters func() map[string]uint64, log *zap.Logger) *publishPart {
	return &publishPart{life: life{name: "publisher"}, cfg: cfg, store: st, counters: counters, log: log}
}

func (p *publishPart) Start() (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func() { p.started(err) }()
	pub, err := publish.New(p.cfg, publish.Dependencies{Outbox: p.store.get(), Log: p.log, Counters: p.counters})
	if err != nil {
		return err
	}
	if err := pub.Start(); err != nil {
		return err
	}
	p.p.Store(pub)
	return nil
}

// stopFlush bounds the wait at stop for the servers to acknowledge what
// the outbox holds.
const stopFlush = 5 * time.Second

// Stop stops sending: what is not acknowledged stays in the outbox (the
// store, which stops after, commits what was enqueued last). While
// connected it first gives the servers up to stopFlush to acknowledge the
// outbox, the attempts closed at stop included: a sensor stopped for good
// would otherwise keep them. A server away is not waited for.
func (p *publishPart) Stop() error {
	if !p.end() {
		return nil
	}
	pub := p.p.Load()
	if pub.Stats().Connected {
		ctx, cancel := context.WithTimeout(context.Background(), stopFlush)
		left, err := pub.Wait(ctx)
		cancel()
		if err != nil {
			p.log.Warn("stopping with records not acknowledged: they stay in the outbox for the next start",
				zap.Int64("left", left), zap.Duration("waited", stopFlush))
		}
	}
	return pub.Stop()
}

// Write implements sensor.Sink (with --publish-syns).
func (p *publishPart) Write(ev *synevent.Event) error {
	if err := p.use(); err != nil {
		return err
	}
	return p.p.Load().Write(ev)
}

// Flush implements sensor.Sink and pipeline.ResultSink.
func (p *publishPart) Flush() error { return p.use() }

// WriteAttempt implements pipeline.ResultSink.
func (p *publishPart) WriteAttempt(a *record.Attempt) error {
	if err := p.use(); err != nil {
		return err
	}
	return p.p.Load().WriteAttempt(a)
}

// WriteAssociation implements pipeline.ResultSink.
func (p *publishPart) WriteAssociation(a *record.Association) error {
	if err := p.use(); err != nil {
		return err
	}
	return p.p.Load().WriteAssociation(a)
}

// RecordRejection publishes a rejection of the reject logs.
func (p *publishPart) RecordRejection(r *record.Rejection) error {
	if err := p.use(); err != nil {
		return err
	}
	return p.p.Load().RecordRejection(r)
}

// Stats implements metrics.PublishSource (the outbox's alone before
// Start).
func (p *publishPart) Stats() publish.Stats {
	if pub := p.p.Load(); pub != nil {
		return pub.Stats()
	}
	if st := p.store.get(); st != nil {
		return publish.Stats{Outbox: st.OutboxStats()}
	}
	return publish.Stats{}
}

// recordRejection keeps a rejection of the reject logs in the store and
// publishes it (either may be nil).
func recordRejection(st *store.Store, pub *publishPart, r *record.Rejection) error {
	var err error
	if st != nil {
		err = st.RecordRejection(r.IP, r.Time, r.Zone)
	}
	if pub != nil {
		err = errors.Join(err, pub.RecordRejection(r))
	}
	return err
}
