package dnsbl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// Source is where the served list comes from: exactly one of Dir, DB and
// List.
type Source struct {
	Dir  string // a results directory: the list is built from its associations
	DB   string // or a store (run/analyze --db), opened read-only
	List string // or a list file (mxsensor blocklist --format json or plain)
	// Options build the list from Dir or DB.
	Options blocklist.Options
}

// Validate checks that exactly one source is given.
func (s Source) Validate() error {
	n := 0
	for _, x := range []string{s.Dir, s.DB, s.List} {
		if x != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one source: a results directory, a store or a list file")
	}
	return nil
}

// Path is the file whose changes trigger a reload.
func (s Source) Path() string {
	switch {
	case s.Dir != "":
		return filepath.Join(s.Dir, record.AssociationsFile)
	case s.DB != "":
		// Commits go to the write-ahead log first: it changes with them.
		if _, err := os.Stat(s.DB + "-wal"); err == nil {
			return s.DB + "-wal"
		}
		return s.DB
	}
	return s.List
}

// Load reads the source. A source with bad lines and nothing valid is a
// failed load, not an empty list: a garbled export must not unlist
// everyone. An empty file, or one of comments only, is a valid empty list.
func (s Source) Load() (*blocklist.List, error) {
	l, err := s.read()
	if err != nil {
		return nil, err
	}
	st := l.Stats.Stats
	// A list's valid lines are its entries; in a results source a line
	// that parsed counts even when it lists nothing (no spammer yet).
	garbage := len(l.Entries) == 0 && st.Bad > 0
	if s.List == "" {
		garbage = st.Bad > 0 && st.Bad == st.Lines
	}
	if garbage {
		return nil, fmt.Errorf("%s: no valid entry, %d bad lines (first: %s)", s.Path(), st.Bad, st.FirstBad)
	}
	return l, nil
}

func (s Source) read() (*blocklist.List, error) {
	if s.Dir != "" {
		return blocklist.BuildDir(s.Dir, s.Options)
	}
	if s.DB != "" {
		st, err := store.OpenReadOnly(s.DB)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return blocklist.BuildFrom(st, s.Options)
	}
	f, err := os.Open(s.List)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := blocklist.ReadList(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.List, err)
	}
	return l, nil
}

// stamp identifies a version of the source file.
type stamp struct{ fi os.FileInfo }

func (s Source) stamp() (stamp, error) { return fileStamp(s.Path()) }

func fileStamp(path string) (stamp, error) {
	fi, err := os.Stat(path)
	return stamp{fi}, err
}

func (a stamp) same(b stamp) bool {
	if a.fi == nil || b.fi == nil {
		return false
	}
	return os.SameFile(a.fi, b.fi) && a.fi.ModTime().Equal(b.fi.ModTime()) && a.fi.Size() == b.fi.Size()
}

// ReloaderConfig configures a Reloader.
type ReloaderConfig struct {
	Source Source
	// Interval is how often the source is checked for a change (0: only
	// when Reload is called).
	Interval time.Duration
	// Log gets the loads and the failures (nil: none).
	Log *zap.Logger
	// Policy is applied to each list loaded (its Allow and Now are not
	// used), with the allowlist of the file Allowlist ("": none), checked
	// for changes as the source is.
	Policy    blocklist.Policy
	Allowlist string
}

// Reloader keeps a Server's list in step with its source: Start loads it,
// then the source is checked every Interval and loaded once a change has
// stayed unchanged for one check (not while a writer is still at it), or
// at once on Reload. A source that fails to load keeps the old list.
type Reloader struct {
	cfg ReloaderConfig
	srv *Server
	log *zap.Logger

	now     chan struct{} // Reload's requests
	started bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// The state below is the loop's (and Start's, before the loop).
	gate gate
	// raw is the list last loaded, before the policy: a new allowlist is
	// applied to it.
	raw *blocklist.List
	*policy
	// lastErr keeps a failing source from being logged at every poll (it
	// is logged again on Reload).
	lastErr string

	// loaded and failed count reloads done and failed (each failed
	// attempt, even when not logged again).
	loaded, failed atomic.Uint64
}

// NewReloader returns a reloader of srv's list; Start loads it.
func NewReloader(cfg ReloaderConfig, srv *Server) (*Reloader, error) {
	if err := cfg.Source.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interval < 0 {
		return nil, errors.New("reload interval must not be negative (0: only on demand)")
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	pol, err := newPolicy(cfg.Policy, cfg.Allowlist, log)
	if err != nil {
		return nil, err
	}
	return &Reloader{cfg: cfg, srv: srv, log: log, policy: pol, now: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start loads the source into the server (an error if it does not load:
// there is no old list to keep yet) and starts watching it.
func (r *Reloader) Start() error {
	r.gate.stamp, _ = r.cfg.Source.stamp() // before the load: a change during it is seen
	l, err := r.cfg.Source.Load()
	if err != nil {
		return err
	}
	r.raw = l
	l = r.publish()
	r.log.Info("dnsbl list loaded", append([]zap.Field{zap.String("source", r.cfg.Source.Path()), zap.Int("entries", r.srv.Table().Len()),
		zap.Int("spammer_attempts", l.Stats.Spammer), zap.Int("bad_lines", l.Stats.Bad)}, r.fields(l)...)...)
	r.warnBad(l.Stats.Stats)
	r.started = true
	go r.run()
	return nil
}

// Stop stops watching the source; the server keeps its list.
func (r *Reloader) Stop() error {
	if !r.started {
		return nil
	}
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

// Reload asks for the source to be loaded now, changed or not (SIGHUP).
// It does not wait.
func (r *Reloader) Reload() {
	select {
	case r.now <- struct{}{}:
	default: // one is already asked for
	}
}

// Stats returns the reloads done and failed so far.
func (r *Reloader) Stats() (loaded, failed uint64) { return r.loaded.Load(), r.failed.Load() }

func (r *Reloader) run() {
	defer close(r.done)
	var tick <-chan time.Time
	if r.cfg.Interval > 0 {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-r.stop:
			return
		case <-r.now:
			r.reload(triggerDemand)
		case <-tick:
			r.reload(triggerPoll)
		}
	}
}

// The triggers of a reload, as logged.
const (
	triggerDemand = "SIGHUP"
	triggerPoll   = "poll"
)

// reload loads the source on demand, or on a poll if the source changed
// and then stayed the same for one poll; a source that fails to load
// keeps the old list.
func (r *Reloader) reload(why string) {
	src := r.cfg.Source
	failed := func(err error) {
		r.failed.Add(1)
		if why == triggerPoll && err.Error() == r.lastErr {
			return
		}
		r.lastErr = err.Error()
		r.log.Error("dnsbl reload failed, keeping the list", zap.String("source", src.Path()), zap.String("trigger", why), zap.Error(err))
	}
	if r.check(why) {
		// The new allowlist applies to the list held; a source change
		// seen below publishes again.
		l := r.publish()
		r.log.Info("dnsbl list filtered again", append([]zap.Field{zap.String("trigger", why), zap.Int("entries", r.srv.Table().Len())}, r.fields(l)...)...)
	} else if r.raw != nil && r.expiring() {
		l := r.publish()
		r.log.Info("dnsbl expired entries left the list", append([]zap.Field{zap.String("trigger", why), zap.Int("entries", r.srv.Table().Len())}, r.fields(l)...)...)
	}
	st, err := src.stamp()
	if err != nil {
		failed(err)
		return
	}
	if !r.gate.due(st, why == triggerPoll) {
		return
	}
	nl, err := src.Load()
	r.gate.stamp = st
	if err != nil {
		failed(err)
		return
	}
	r.lastErr = ""
	r.loaded.Add(1)
	r.raw = nl
	l := r.publish()
	r.log.Info("dnsbl reloaded", append([]zap.Field{zap.String("trigger", why), zap.String("source", src.Path()), zap.Int("entries", r.srv.Table().Len()),
		zap.Int("spammer_attempts", nl.Stats.Spammer), zap.Int("bad_lines", nl.Stats.Bad)}, r.fields(l)...)...)
	r.warnBad(nl.Stats.Stats)
}

// publish swaps the server's table for the list held under the policy.
func (r *Reloader) publish() *blocklist.List {
	l := r.apply(r.raw)
	r.srv.Reload(NewTable(l.Entries))
	return l
}

func (r *Reloader) warnBad(st record.Stats) {
	if st.Bad > 0 {
		r.log.Warn("dnsbl source has bad lines (skipped)", zap.String("source", r.cfg.Source.Path()), zap.Int("bad_lines", st.Bad), zap.String("first", st.FirstBad))
	}
}
