// Package publish sends a sensor's records to the network of sensors on
// NATS JetStream: the records go to an outbox in the sensor's store (never
// waiting for the network), and a publisher sends them with async publish,
// deletes what the server acknowledged, retries with backoff and resumes
// after a restart. Every message carries a Nats-Msg-Id derived from its
// record, so what is sent twice is dropped by the stream.
package publish

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Config configures a Publisher.
type Config struct {
	// Sensor is this sensor's id, in every subject, body and msg id.
	Sensor string
	Conn   fleet.ConnConfig
	// Stream is created with these limits when absent (a sensor whose
	// credentials may not create it leaves that to the collector).
	Stream fleet.StreamConfig
	// SYNs: Write publishes the SYN events (else it does nothing).
	SYNs bool
	// MaxInFlight bounds the messages sent and not yet acknowledged.
	MaxInFlight int
	// AckWait is how long a message waits for its acknowledgement before
	// it is sent again.
	AckWait time.Duration
	// Retry is the first pause after an error; it doubles up to RetryMax.
	Retry, RetryMax time.Duration
	// Poll is how often an empty outbox is looked at again.
	Poll time.Duration
	// Status, if > 0, enqueues a status this often.
	Status time.Duration
	// MaxRefusals is how many times a message the servers refuse for good
	// (a permissions violation on its subject, a message too large, a
	// stream's 4xx error) is sent before it is given up as a dead letter,
	// counted and logged: it must not hold the outbox for ever.
	MaxRefusals           int
	Version, ConfigDigest string
}

// DefaultConfig: 512 messages in flight, 10 s for an acknowledgement,
// retries from 0.5 s to 30 s, the outbox looked at every 200 ms, a
// message refused 5 times given up.
func DefaultConfig() Config {
	return Config{Stream: fleet.DefaultStreamConfig(), MaxInFlight: 512, AckWait: 10 * time.Second,
		Retry: 500 * time.Millisecond, RetryMax: 30 * time.Second, Poll: 200 * time.Millisecond, MaxRefusals: 5}
}

// Outbox is where the messages wait; *store.Store implements it.
type Outbox interface {
	Enqueue(kind, subject, msgID string, body []byte) error
	ReadOutbox(after int64, limit int, buf []store.OutboxMsg) ([]store.OutboxMsg, error)
	DeleteOutbox(seqs []int64) error
	OutboxStats() store.OutboxStats
}

var _ Outbox = (*store.Store)(nil)

// Dependencies are what a Publisher uses.
type Dependencies struct {
	Outbox Outbox
	Log    *zap.Logger
	// Counters are the status's counters (nil: the publisher's only).
	Counters func() map[string]uint64
}

// Stats are the publisher's counters, safe to read from any goroutine.
type Stats struct {
	// Published: messages sent; Acknowledged: acknowledged by the server
	// (Duplicates of them as already in the stream); Retries: messages
	// sent again after an error or a timeout.
	Published, Acknowledged, Duplicates, Retries uint64
	// DeadLetters are messages the servers refused MaxRefusals times,
	// deleted from the outbox unpublished, by kind.
	DeadLetters map[string]uint64
	// InFlight are sent and not yet acknowledged.
	InFlight  int64
	Connected bool
	Outbox    store.OutboxStats
}

// Publisher is the sensor's publisher and the sink of what it publishes.
type Publisher struct {
	cfg Config
	ob  Outbox
	log *zap.Logger
	cnt func() map[string]uint64

	encMu sync.Mutex // the encoding buffers: sinks write from several goroutines
	rec   []byte
	body  []byte

	nc   *nats.Conn
	js   jetstream.JetStream
	stop context.CancelFunc
	wg   sync.WaitGroup
	sent chan struct{} // a send's acknowledged messages were deleted

	published, acked, dups, retries atomic.Uint64
	inflight                        atomic.Int64

	refusedMu sync.Mutex
	refused   map[string]time.Time // subjects the server refused (permissions violations), when last
	refusals  map[int64]int        // outbox seq: permanent refusals so far (run's goroutine)
	deadMu    sync.Mutex
	dead      map[string]uint64 // dead letters by kind
	deadLog   time.Time
	deadSince uint64 // dead letters since the last error logged
}

// New returns a publisher; nothing is connected before Start.
func New(cfg Config, deps Dependencies) (*Publisher, error) {
	if err := fleet.ValidSensorID(cfg.Sensor); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := cfg.Conn.Validate(); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if deps.Outbox == nil {
		return nil, errors.New("publish: no outbox (the store)")
	}
	d := DefaultConfig()
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = d.MaxInFlight
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = d.AckWait
	}
	if cfg.Retry <= 0 {
		cfg.Retry = d.Retry
	}
	if cfg.RetryMax < cfg.Retry {
		cfg.RetryMax = max(d.RetryMax, cfg.Retry)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = d.Poll
	}
	if cfg.MaxRefusals <= 0 {
		cfg.MaxRefusals = d.MaxRefusals
	}
	if cfg.Stream == (fleet.StreamConfig{}) {
		cfg.Stream = d.Stream
	}
	if cfg.Conn.Name == "" {
		cfg.Conn.Name = "mxsensor sensor " + cfg.Sensor
	}
	log := deps.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Publisher{cfg: cfg, ob: deps.Outbox, log: log, cnt: deps.Counters, sent: make(chan struct{}, 1),
		refused: map[string]time.Time{}, refusals: map[int64]int{}, dead: map[string]uint64{}}, nil
}

// Start connects (a server that is down is retried for ever: the outbox
// keeps the records meanwhile) and starts sending.
func (p *Publisher) Start() error {
	nc, err := fleet.Connect(p.cfg.Conn, p.log)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(p.cfg.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(p.cfg.AckWait))
	if err != nil {
		nc.Close()
		return fmt.Errorf("publish: %w", err)
	}
	// A permissions violation comes as an asynchronous error naming the
	// subject (the message is dropped, no acknowledgement comes): note it
	// for the messages waiting for one, and log it as before.
	logErr := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		p.noteRefusal(err)
		if logErr != nil {
			logErr(c, sub, err)
		}
	})
	p.nc, p.js = nc, js
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(ctx)
	}()
	if p.cfg.Status > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.statusLoop(ctx)
		}()
	}
	p.log.Info("publishing", zap.String("sensor", p.cfg.Sensor), zap.Strings("servers", p.cfg.Conn.URLs),
		zap.Bool("syns", p.cfg.SYNs))
	return nil
}

// Stop stops sending (the messages in flight get their acknowledgement
// or error, at most AckWait) and disconnects. What is not acknowledged
// stays in the outbox for the next start.
func (p *Publisher) Stop() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.wg.Wait()
	p.nc.Close()
	p.stop = nil
	return nil
}

// Wait waits until the outbox is empty (every record acknowledged) or ctx
// is done; it then returns how many messages are left.
func (p *Publisher) Wait(ctx context.Context) (left int64, err error) {
	tick := time.NewTicker(p.cfg.Poll)
	defer tick.Stop()
	for {
		st := p.ob.OutboxStats()
		if left = st.Rows + st.Queued; left == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return left, ctx.Err()
		case <-p.sent:
		case <-tick.C:
		}
	}
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	s := Stats{Published: p.published.Load(), Acknowledged: p.acked.Load(), Duplicates: p.dups.Load(),
		Retries: p.retries.Load(), InFlight: p.inflight.Load(), Outbox: p.ob.OutboxStats(), DeadLetters: map[string]uint64{}}
	p.deadMu.Lock()
	maps.Copy(s.DeadLetters, p.dead)
	p.deadMu.Unlock()
	if p.nc != nil {
		s.Connected = p.nc.IsConnected()
	}
	return s
}

// run sends what the outbox holds, oldest first, until ctx is done. Every
// message in the outbox is one not acknowledged yet: the acknowledged are
// deleted before the next read, so each pass reads from the start, and a
// message that failed goes first again.
func (p *Publisher) run(ctx context.Context) {
	backoff := p.cfg.Retry
	streamFor := uint64(0) // the connection (1 + reconnects) the stream was ensured on
	var msgs []store.OutboxMsg
	var failWarned time.Time
	for ctx.Err() == nil {
		if !p.nc.IsConnected() {
			p.sleep(ctx, p.cfg.Poll)
			continue
		}
		if conn := p.nc.Stats().Reconnects + 1; conn != streamFor {
			streamFor = conn
			p.ensureStream(ctx)
		}
		var err error
		msgs, err = p.ob.ReadOutbox(0, p.cfg.MaxInFlight, msgs[:0])
		if err == nil && len(msgs) == 0 {
			p.sleep(ctx, p.cfg.Poll)
			continue
		}
		if err == nil {
			err = p.send(msgs)
		}
		clear(msgs) // the bodies
		if err == nil {
			backoff = p.cfg.Retry
			continue
		}
		if now := time.Now(); now.Sub(failWarned) >= 10*time.Second {
			p.log.Warn("publishing: will retry", zap.Error(err), zap.Duration("backoff", backoff),
				zap.Int64("outbox_rows", p.ob.OutboxStats().Rows))
			failWarned = now
		}
		p.sleep(ctx, backoff)
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

func (p *Publisher) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ensureStream creates the fleet's stream if it is absent. A server that
// refuses (a sensor's credentials may not create streams) is logged: the
// collector creates it, and publishing goes on.
func (p *Publisher) ensureStream(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := fleet.EnsureStream(ctx, p.js, p.cfg.Stream); err != nil {
		p.log.Warn("publishing: cannot look up or create the fleet's stream (the collector creates it); publishing all the same",
			zap.String("stream", fleet.StreamName), zap.Error(err))
	}
}

// inflight is a message sent and its acknowledgement to come.
type inflight struct {
	m *store.OutboxMsg
	f jetstream.PubAckFuture
}

// send publishes msgs (at most MaxInFlight), waits for their
// acknowledgements (each resolves within AckWait) and deletes the
// acknowledged from the outbox. It returns the first error: the messages
// not acknowledged are sent again on the next pass.
func (p *Publisher) send(msgs []store.OutboxMsg) error {
	fs := make([]inflight, 0, len(msgs))
	var first error
	sentAt := time.Now()
	seqs := make([]int64, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		f, err := p.js.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Body}, jetstream.WithMsgID(m.MsgID))
		if err != nil {
			if errors.Is(err, nats.ErrMaxPayload) { // this one only: the others go on
				if p.refuse(m, err) {
					seqs = append(seqs, m.Seq)
				}
				first = cmp.Or(first, fmt.Errorf("sending %s: %w", m.Subject, err))
				continue
			}
			first = fmt.Errorf("sending %s: %w", m.Subject, err)
			p.retries.Add(uint64(len(msgs) - i))
			break
		}
		fs = append(fs, inflight{m, f})
		p.published.Add(1)
		p.inflight.Add(1)
	}
	for _, x := range fs {
		select {
		case ack := <-x.f.Ok():
			seqs = append(seqs, x.m.Seq)
			delete(p.refusals, x.m.Seq)
			p.acked.Add(1)
			if ack.Duplicate {
				p.dups.Add(1)
			}
		case err := <-x.f.Err():
			p.retries.Add(1)
			if p.permanent(x.m.Subject, err, sentAt) && p.refuse(x.m, err) {
				seqs = append(seqs, x.m.Seq)
			}
			if first == nil {
				first = fmt.Errorf("acknowledgement of %s: %w", x.m.Subject, err)
			}
		}
		p.inflight.Add(-1)
	}
	if err := p.ob.DeleteOutbox(seqs); err != nil && first == nil {
		first = err // sent again: the stream drops them
	}
	select {
	case p.sent <- struct{}{}:
	default:
	}
	return first
}

// noteRefusal notes the subject of a permissions violation on publish.
func (p *Publisher) noteRefusal(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	msg := err.Error()
	i := strings.Index(strings.ToLower(msg), "for publish to ")
	if i < 0 {
		return
	}
	subj := strings.Trim(strings.TrimSpace(msg[i+len("for publish to "):]), `"'`)
	p.refusedMu.Lock()
	defer p.refusedMu.Unlock()
	if len(p.refused) >= 1024 { // bounded: a sensor publishes on a few subjects
		clear(p.refused)
	}
	p.refused[subj] = time.Now()
}

// permanent says whether err, a message's failure, is a refusal that
// sending it again does not change: the stream's 4xx error (too large,
// say), or a time-out after the server refused its subject.
func (p *Publisher) permanent(subject string, err error, sentAt time.Time) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code >= 400 && api.Code < 500 && api.Code != 408 && api.Code != 429
	}
	if !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		return false
	}
	p.refusedMu.Lock()
	at, ok := p.refused[subject]
	p.refusedMu.Unlock()
	return ok && !at.Before(sentAt)
}

// refuse counts a permanent refusal of m and says whether m is now a dead
// letter (refused MaxRefusals times), to be deleted from the outbox:
// counted by kind and logged as an error, at most every 10 s.
func (p *Publisher) refuse(m *store.OutboxMsg, err error) bool {
	if len(p.refusals) >= 4*p.cfg.MaxInFlight { // bounded: messages evicted meanwhile
		clear(p.refusals)
	}
	p.refusals[m.Seq]++
	if p.refusals[m.Seq] < p.cfg.MaxRefusals {
		return false
	}
	delete(p.refusals, m.Seq)
	p.deadMu.Lock()
	defer p.deadMu.Unlock()
	p.dead[m.Kind]++
	p.deadSince++
	if now := time.Now(); now.Sub(p.deadLog) >= 10*time.Second {
		p.log.Error("publishing: the servers refuse a message for good: given up, NOT PUBLISHED (a dead letter)",
			zap.String("subject", m.Subject), zap.String("msg_id", m.MsgID), zap.Int("tries", p.cfg.MaxRefusals),
			zap.Uint64("dead_letters", p.deadSince), zap.Error(err))
		p.deadLog, p.deadSince = now, 0
	}
	return true
}

// enqueue puts a record's message in the outbox (under encMu: p.rec holds
// the record's line).
func (p *Publisher) enqueue(k fleet.Kind, id string) error {
	var err error
	p.body, err = fleet.AppendBody(p.body[:0], p.cfg.Sensor, p.rec)
	if err != nil {
		return err
	}
	return p.ob.Enqueue(string(k), fleet.Subject(p.cfg.Sensor, k), id, p.body)
}

// WriteAttempt implements pipeline.ResultSink.
func (p *Publisher) WriteAttempt(a *record.Attempt) error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rec = a.AppendJSON(p.rec[:0])
	return p.enqueue(fleet.KindAttempt, fleet.MsgID(p.cfg.Sensor, fleet.KindAttempt, a.Src, a.SrcPort, a.FirstSeen, ""))
}

// WriteAssociation implements pipeline.ResultSink.
func (p *Publisher) WriteAssociation(as *record.Association) error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rec = as.AppendJSON(p.rec[:0])
	return p.enqueue(fleet.KindAssociation, fleet.MsgID(p.cfg.Sensor, fleet.KindAssociation, as.Src, as.SrcPort, as.FirstSeen, ""))
}

// Flush implements pipeline.ResultSink and sensor.Sink: the store commits
// the outbox on its own.
func (p *Publisher) Flush() error { return nil }

// RecordRejection publishes a rejection found in the reject log.
func (p *Publisher) RecordRejection(r *record.Rejection) error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rec = r.AppendJSON(p.rec[:0])
	return p.enqueue(fleet.KindRejection, fleet.MsgID(p.cfg.Sensor, fleet.KindRejection, r.IP, 0, r.Time, r.Zone))
}

// Write implements sensor.Sink: the SYN event, with Config.SYNs.
func (p *Publisher) Write(ev *synevent.Event) error {
	if !p.cfg.SYNs {
		return nil
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rec = ev.AppendJSON(p.rec[:0])
	return p.enqueue(fleet.KindSYN, fleet.MsgID(p.cfg.Sensor, fleet.KindSYN, ev.Src, ev.SrcPort, ev.Time, ""))
}

// Status enqueues a status as of now.
func (p *Publisher) Status(now time.Time) error {
	s := record.Status{Time: now, Version: p.cfg.Version, ConfigDigest: p.cfg.ConfigDigest, Counters: map[string]uint64{}}
	if p.cnt != nil {
		s.Counters = p.cnt()
	}
	st := p.Stats()
	s.Counters["publish_published"] = st.Published
	s.Counters["publish_acknowledged"] = st.Acknowledged
	s.Counters["publish_retries"] = st.Retries
	s.Counters["publish_outbox_rows"] = uint64(max(st.Outbox.Rows, 0))
	for k, n := range st.Outbox.Dropped {
		s.Counters["publish_dropped_"+k] = n
	}
	for k, n := range st.DeadLetters {
		s.Counters["publish_dead_letters_"+k] = n
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rec = s.AppendJSON(p.rec[:0])
	return p.enqueue(fleet.KindStatus, fleet.MsgID(p.cfg.Sensor, fleet.KindStatus, netip.Addr{}, 0, now, ""))
}

func (p *Publisher) statusLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.Status)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := p.Status(now); err != nil {
				p.log.Warn("publishing: status", zap.Error(err))
			}
		}
	}
}

// DropFirst are the kinds the outbox gives up first when full: SYN events,
// then status; never attempts, associations or rejections (those are
// dropped only when nothing else is left, counted and logged as errors).
var DropFirst = []string{string(fleet.KindSYN), string(fleet.KindStatus)}
