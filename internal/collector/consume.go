package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// consumer is the collector's durable pull consumer on the fleet's
// stream: it fetches a batch, stores it in one transaction, and only then
// acknowledges it. A batch the store fails to commit is not acknowledged
// (negatively: redelivered after a pause); a malformed message is
// acknowledged as done and counted, never retried.
type consumer struct {
	c    *Collector
	cons jetstream.Consumer
	stop chan struct{}
	done chan struct{}

	mu  sync.Mutex
	err error // why the consumer gave up (nil while it runs)

	lastBad time.Time // malformed messages: logged at most every badEvery
	bad     uint64    // malformed since the last warning
}

// badEvery bounds the warnings about malformed messages.
const badEvery = 10 * time.Second

// fetchWait bounds one fetch's wait for messages (and so how long a stop
// waits for the loop).
const fetchWait = time.Second

// ackWait is how long a message delivered and not acknowledged waits for
// its redelivery. Messages can be delivered that the consumer never sees
// (a pull request the client gave up on, resent by its reconnection: the
// server answers it after the fetch returned), so it bounds how long they
// stall. A batch whose commit takes longer is delivered again, which
// changes nothing (its keys are stored).
const ackWait = 10 * time.Second

// nakDelay is how long a batch the store failed to commit waits before
// its redelivery.
const nakDelay = 5 * time.Second

func newConsumer(c *Collector) *consumer { return &consumer{c: c} }

// Start creates (or finds) the durable consumer and starts fetching.
func (k *consumer) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s jetstream.Stream
	err := fleet.RetryAPI(ctx, apiTry, func(ctx context.Context) error {
		var err error
		s, err = k.c.js.Stream(ctx, fleet.StreamName)
		return err
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", fleet.StreamName, err)
	}
	err = fleet.RetryAPI(ctx, apiTry, func(ctx context.Context) error {
		var err error
		k.cons, err = s.CreateOrUpdateConsumer(ctx, consumerConfig(k.c.cfg))
		return err
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", k.c.cfg.Durable, err)
	}
	k.stop, k.done = make(chan struct{}), make(chan struct{})
	go k.run()
	return nil
}

// consumerConfig is the collector's durable consumer.
func consumerConfig(cfg Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "mxsensor collector",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 4 * cfg.Batch,
		FilterSubject: fleet.AllSubjects,
	}
}

// Stop stops fetching and waits for the batch under way to be committed
// and acknowledged.
func (k *consumer) Stop() error {
	if k.stop == nil {
		return nil
	}
	close(k.stop)
	<-k.done
	k.stop = nil
	return nil
}

// Err is why the consumer gave up, nil while it runs.
func (k *consumer) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

func (k *consumer) stopping() bool {
	select {
	case <-k.stop:
		return true
	default:
		return false
	}
}

func (k *consumer) run() {
	defer close(k.done)
	cfg := k.c.cfg
	wait := fetchWait
	if cfg.ExitIdle > 0 {
		wait = min(wait, cfg.ExitIdle)
	}
	last := time.Now()
	for !k.stopping() {
		batch, err := k.cons.Fetch(cfg.Batch, jetstream.FetchMaxWait(wait))
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				k.fail(fmt.Errorf("consumer %s: %w", cfg.Durable, err))
				return
			}
			// A disconnection: the client reconnects; try again.
			k.c.log.Warn("fetching from the stream", zap.Error(err))
			select {
			case <-k.stop:
			case <-time.After(wait):
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			k.c.log.Debug("fetch ended", zap.Error(err))
		}
		if len(msgs) == 0 {
			k.c.stats.pending.Store(0)
			if cfg.ExitIdle > 0 && time.Since(last) >= cfg.ExitIdle {
				if n := k.outstanding(); n > 0 {
					// Delivered and not acknowledged (a collector killed
					// with a batch, a fetch given up): they come again
					// within ackWait.
					k.c.log.Debug("idle, but messages are still to come", zap.Uint64("messages", n))
					continue
				}
				k.c.log.Info("no message: exiting", zap.Duration("exit_idle", cfg.ExitIdle))
				k.c.finish()
				return
			}
			continue
		}
		last = time.Now()
		k.handle(msgs)
	}
}

// outstanding is how many messages the consumer has not had acknowledged:
// pending, or delivered and not acknowledged (0 if the server does not
// say).
func (k *consumer) outstanding() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), fetchWait)
	defer cancel()
	info, err := k.cons.Info(ctx)
	if err != nil {
		k.c.log.Debug("consumer info", zap.Error(err))
		return 0
	}
	return info.NumPending + uint64(max(info.NumAckPending, 0))
}

func (k *consumer) fail(err error) {
	k.mu.Lock()
	k.err = err
	k.mu.Unlock()
	k.c.log.Error("consumer stopped", zap.Error(err))
	k.c.finish()
}

// handle decodes a batch, stores its records in one transaction, then
// acknowledges it.
func (k *consumer) handle(msgs []jetstream.Msg) {
	st := &k.c.stats
	recs := make([]store.FleetRecord, 0, len(msgs))
	var keep, other []jetstream.Msg // stored records' messages; status and SYNs
	for _, m := range msgs {
		r, kind, err := decode(m.Subject(), m.Data())
		if err != nil {
			st.malformed.Add(1)
			k.warnBad(m.Subject(), err)
			if err := m.Term(); err != nil {
				k.c.log.Debug("terminating a malformed message", zap.Error(err))
			}
			continue
		}
		st.sawSensor(r.Sensor)
		if r.Attempt == nil && r.Association == nil && r.Rejection == nil {
			st.ingested[kindIndex(kind)].Add(1)
			other = append(other, m)
			continue
		}
		recs = append(recs, r)
		keep = append(keep, m)
	}
	if meta, err := msgs[len(msgs)-1].Metadata(); err == nil {
		st.pending.Store(meta.NumPending)
	}
	if len(recs) > 0 {
		is, err := k.c.st.Ingest(recs, k.c.cfg.SpamWindow)
		if err != nil {
			st.ingestErrors.Add(1)
			st.ingestFailing.Store(true)
			k.c.log.Warn("storing a batch failed: redelivered later", zap.Int("messages", len(keep)), zap.Error(err))
			for _, m := range keep {
				_ = m.NakWithDelay(nakDelay)
			}
			keep = nil
		} else {
			st.ingestFailing.Store(false)
			k.count(is)
			k.c.list.touch()
		}
	}
	for _, m := range append(keep, other...) {
		if err := m.Ack(); err != nil {
			k.c.log.Debug("acknowledging", zap.Error(err))
		}
	}
}

// count adds an ingest's counts by kind.
func (k *consumer) count(is store.IngestStats) {
	st := &k.c.stats
	for _, x := range []struct {
		k fleet.Kind
		c store.IngestCount
	}{{fleet.KindAttempt, is.Attempts}, {fleet.KindAssociation, is.Associations}, {fleet.KindRejection, is.Rejections}} {
		i := kindIndex(x.k)
		st.ingested[i].Add(uint64(x.c.New))
		st.duplicates[i].Add(uint64(x.c.Duplicate))
	}
	st.relabelled.Add(uint64(is.RelabelledAttempts + is.RelabelledAssociations))
	st.fleetLabelled.Add(uint64(is.FleetLabelled))
	st.uncorroborated.Add(uint64(is.Uncorroborated))
}

// warnBad logs a malformed message: the first, then at most one warning
// every badEvery with how many came meanwhile.
func (k *consumer) warnBad(subject string, err error) {
	k.bad++
	now := time.Now()
	if !k.lastBad.IsZero() && now.Sub(k.lastBad) < badEvery {
		return
	}
	k.c.log.Warn("malformed messages dropped", zap.Uint64("count", k.bad), zap.String("subject", subject), zap.Error(err))
	k.bad, k.lastBad = 0, now
}

// decode turns a message into the record to store (none for a status or
// a SYN event, which are only counted) after checking it: a fleet
// subject, a body that decodes, from the sensor the subject names.
func decode(subject string, data []byte) (store.FleetRecord, fleet.Kind, error) {
	sensor, kind, err := fleet.ParseSubject(subject)
	if err != nil {
		return store.FleetRecord{}, "", err
	}
	var r store.FleetRecord
	var v any
	switch kind {
	case fleet.KindAttempt:
		r.Attempt = new(record.Attempt)
		v = r.Attempt
	case fleet.KindAssociation:
		r.Association = new(record.Association)
		v = r.Association
	case fleet.KindRejection:
		r.Rejection = new(record.Rejection)
		v = r.Rejection
	}
	body, err := fleet.DecodeBody(data, v)
	if err != nil {
		return r, kind, err
	}
	if body != sensor {
		return r, kind, fmt.Errorf("body of sensor %q on sensor %q's subject", body, sensor)
	}
	r.Sensor = sensor
	switch {
	case r.Attempt != nil && (!r.Attempt.Src.IsValid() || r.Attempt.FirstSeen.IsZero() ||
		(r.Attempt.Family != record.IPv4 && r.Attempt.Family != record.IPv6)):
		return r, kind, errors.New("attempt without a source, a family or a time")
	case r.Association != nil && (!r.Association.Src.IsValid() || r.Association.FirstSeen.IsZero()):
		return r, kind, errors.New("association without a source or a time")
	case r.Rejection != nil && (!r.Rejection.IP.IsValid() || r.Rejection.Time.IsZero()):
		return r, kind, errors.New("rejection without an address or a time")
	}
	return r, kind, nil
}
