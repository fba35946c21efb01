package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
)

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Conn connects to the fleet's servers.
	Conn fleet.ConnConfig
	// Wait bounds the connection and a full load of the list (0: 30 s).
	Wait time.Duration
	// Log gets the loads, the reconnections and the failures (nil: none).
	Log *zap.Logger
	// Policy and Allowlist apply to the shared list as a Reloader's do;
	// the allowlist file is checked every AllowInterval (0: on Reload only).
	Policy        blocklist.Policy
	Allowlist     string
	AllowInterval time.Duration
}

// The watcher's bounds.
const (
	defaultWatchWait = 30 * time.Second
	// maxBatch bounds the updates applied before the table is rebuilt: a
	// burst of writes costs one rebuild, not one per write.
	maxBatch = 10000
	// A failed re-creation of the bucket's watcher is retried after
	// retryMin, doubling to retryMax.
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// Watcher keeps a Server's list in step with the fleet's shared list, a
// JetStream key-value bucket (fleet.ListBucket): Start loads every key,
// then puts, deletes and purges are applied as they come and the table is
// swapped, as a Reloader swaps it. After a reconnection the bucket's
// watcher is re-created and resumes after the last revision seen, so what
// was written while the connection was down is applied; entries older than
// the bucket's TTL are dropped as the server drops them (it tells no
// watcher). A value that does not decode is counted and skipped.
type Watcher struct {
	cfg WatcherConfig
	srv *Server
	log *zap.Logger
	now func() time.Time

	nc  *nats.Conn
	kv  jetstream.KeyValue
	ttl time.Duration
	// ctx ends every watch of the bucket at Stop.
	ctx    context.Context
	cancel context.CancelFunc

	// The loop's state.
	view    *fleet.ListView
	kw      *fleet.ListWatch
	backoff time.Duration
	retry   *time.Timer

	reload  chan struct{} // Reload's requests
	expire  chan struct{} // tests: drop expired entries now
	started bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	loaded, failed, resumed, malformed atomic.Uint64
	*policy
}

// NewWatcher returns a watcher of the shared list for srv; Start loads it.
func NewWatcher(cfg WatcherConfig, srv *Server) (*Watcher, error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	if cfg.Wait <= 0 {
		cfg.Wait = defaultWatchWait
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	pol, err := newPolicy(cfg.Policy, cfg.Allowlist, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Watcher{cfg: cfg, srv: srv, log: log, policy: pol, now: time.Now, ctx: ctx, cancel: cancel, reload: make(chan struct{}, 1), expire: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start connects, loads the list into the server (an error if the bucket
// cannot be read within Wait: there is no old list to keep yet) and starts
// following it.
func (w *Watcher) Start() error {
	nc, err := fleet.Connect(w.cfg.Conn, w.log)
	if err != nil {
		return err
	}
	w.nc = nc
	// Registered before the load: a reconnection during it is not missed
	// (the initial connection's event, if it comes, costs one resume).
	reconnected := nc.StatusChanged(nats.CONNECTED)
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Wait)
	defer cancel()
	if err := w.open(ctx); err != nil {
		nc.Close()
		return err
	}
	v := fleet.NewListView()
	kw, err := fleet.LoadList(w.ctx, w.kv, v, w.cfg.Wait)
	if err != nil {
		nc.Close()
		return err
	}
	w.view, w.kw = v, kw
	w.malformed.Add(v.Malformed)
	w.publish("loaded")
	w.started = true
	go w.run(reconnected)
	return nil
}

// open looks the bucket up and reads its TTL.
func (w *Watcher) open(ctx context.Context) error {
	js, err := jetstream.New(w.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, fleet.ListBucket)
	if err != nil {
		return fmt.Errorf("opening the shared list (bucket %s; the collector creates it): %w", fleet.ListBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", fleet.ListBucket, err)
	}
	w.kv, w.ttl = kv, st.TTL()
	return nil
}

// Stop stops following the list and closes the connection; the server
// keeps its list.
func (w *Watcher) Stop() error {
	if !w.started {
		w.cancel()
		return nil
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.cancel()
	return nil
}

// Reload asks for the whole list to be loaded again (SIGHUP). It does not
// wait.
func (w *Watcher) Reload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// Stats returns the table swaps done and the watcher re-creations and
// reloads that failed.
func (w *Watcher) Stats() (loaded, failed uint64) { return w.loaded.Load(), w.failed.Load() }

// Resumed returns how many times the watcher was re-created after a
// reconnection and resumed.
func (w *Watcher) Resumed() uint64 { return w.resumed.Load() }

// Malformed returns the values skipped because they did not decode.
func (w *Watcher) Malformed() uint64 { return w.malformed.Load() }

func (w *Watcher) logFields() []zap.Field {
	return []zap.Field{zap.String("source", "nats "+strings.Join(w.cfg.Conn.URLs, ",")), zap.String("bucket", fleet.ListBucket)}
}

func (w *Watcher) run(reconnected chan nats.Status) {
	defer close(w.done)
	defer w.nc.Close()
	defer w.nc.RemoveStatusListener(reconnected)
	w.retry = time.NewTimer(time.Hour)
	w.retry.Stop()
	var sweep <-chan time.Time
	if w.ttl > 0 || w.pol.Expire > 0 {
		// Expired entries leave the table within a tenth of the TTL, and
		// within a minute of their expiry.
		every := time.Minute
		if w.ttl > 0 {
			every = min(max(w.ttl/10, time.Second), time.Minute)
		}
		t := time.NewTicker(every)
		defer t.Stop()
		sweep = t.C
	}
	var allowTick <-chan time.Time
	if w.cfg.Allowlist != "" && w.cfg.AllowInterval > 0 {
		t := time.NewTicker(w.cfg.AllowInterval)
		defer t.Stop()
		allowTick = t.C
	}
	for {
		var updates <-chan jetstream.KeyValueEntry
		if w.kw != nil {
			updates = w.kw.Updates()
		}
		select {
		case <-w.stop:
			w.stopWatch()
			w.retry.Stop()
			return
		case e, ok := <-updates:
			if !ok { // the subscription closed under us
				w.kw = nil
				w.scheduleRetry(errors.New("the bucket's watcher stopped"))
				continue
			}
			if w.applyBatch(e) {
				w.publish("update")
			}
		case <-reconnected:
			w.resume()
		case <-w.retry.C:
			w.resume()
		case <-w.reload:
			w.check(triggerDemand)
			w.full()
		case <-allowTick:
			if w.check(triggerPoll) {
				w.publish("filtered again")
			}
		case <-sweep:
			w.sweep()
		case <-w.expire:
			w.sweep()
		}
	}
}

// applyBatch applies e and the updates already waiting after it, and
// reports whether the list changed.
func (w *Watcher) applyBatch(e jetstream.KeyValueEntry) bool {
	bad := w.view.Malformed
	changed := w.view.Apply(e)
	for range maxBatch {
		select {
		case e, ok := <-w.kw.Updates():
			if !ok {
				return changed // seen closed by the loop next
			}
			changed = w.view.Apply(e) || changed
			continue
		default:
		}
		break
	}
	if n := w.view.Malformed - bad; n > 0 {
		w.malformed.Add(n)
		w.log.Warn("dnsbl: malformed values in the shared list (skipped)", zap.Uint64("values", n), zap.String("first", w.view.FirstMalformed))
	}
	return changed
}

// resume re-creates the bucket's watcher after the last revision applied
// (after a reconnection, or a failed attempt); a bucket whose revisions
// went back (re-created, or a server that lost its store) is loaded whole.
func (w *Watcher) resume() {
	w.stopWatch()
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Wait)
	defer cancel()
	st, err := w.kv.Status(ctx)
	if err != nil {
		w.scheduleRetry(err)
		return
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo().State.LastSeq < w.view.Revision() {
		w.log.Warn("dnsbl: the shared list's revisions went back; loading it whole", zap.Uint64("last_seen", w.view.Revision()),
			zap.Uint64("bucket_last", bs.StreamInfo().State.LastSeq))
		w.full()
		return
	}
	kw, err := fleet.WatchList(w.ctx, w.kv, w.cfg.Wait, jetstream.ResumeFromRevision(w.view.Revision()+1))
	if err != nil {
		w.scheduleRetry(err)
		return
	}
	w.kw, w.backoff = kw, 0
	w.resumed.Add(1)
	w.log.Info("dnsbl: following the shared list again", zap.Uint64("from_revision", w.view.Revision()+1))
}

// full loads the whole list into a new view and swaps it in; on failure
// the old list stays and the watcher is resumed later.
func (w *Watcher) full() {
	w.stopWatch()
	v := fleet.NewListView()
	kw, err := fleet.LoadList(w.ctx, w.kv, v, w.cfg.Wait)
	if err != nil {
		w.scheduleRetry(err)
		return
	}
	w.malformed.Add(v.Malformed)
	w.view, w.kw, w.backoff = v, kw, 0
	w.publish("reloaded")
}

func (w *Watcher) stopWatch() {
	if w.kw != nil {
		w.kw.Stop()
		w.kw = nil
	}
}

func (w *Watcher) scheduleRetry(err error) {
	w.failed.Add(1)
	w.backoff = min(max(2*w.backoff, retryMin), retryMax)
	w.log.Warn("dnsbl: cannot follow the shared list; keeping the list, retrying", zap.Duration("retry", w.backoff), zap.Error(err))
	w.retry.Reset(w.backoff)
}

func (w *Watcher) sweep() {
	if n := w.view.Expire(w.now(), w.ttl); n > 0 || w.expiring() {
		w.publish("expired")
	}
}

// publish swaps the server's table for the view's list.
func (w *Watcher) publish(why string) {
	w.view.Expire(w.now(), w.ttl)
	l := w.apply(w.view.List())
	w.srv.Reload(NewTable(l.Entries))
	w.loaded.Add(1)
	lvl := w.log.Debug
	if why != "update" && why != "expired" {
		lvl = w.log.Info
	}
	lvl("dnsbl list "+why, append([]zap.Field{zap.String("bucket", fleet.ListBucket), zap.Int("entries", w.srv.Table().Len()),
		zap.Uint64("revision", w.view.Revision()), zap.Int("spammer_attempts", l.Stats.Spammer), zap.Uint64("malformed", w.view.Malformed)}, w.fields(l)...)...)
}
