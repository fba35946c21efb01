package enrich

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Want selects look-ups.
type Want uint8

// Look-ups a request may ask for.
const (
	WantDNSBL Want = 1 << iota
	WantPTR
	WantASN

	WantAll = WantDNSBL | WantPTR | WantASN
)

// Request asks for look-ups about one address.
type Request struct {
	IP netip.Addr
	// Want selects the look-ups; 0 means all of them. DNSBL look-ups need
	// configured zones; without them WantDNSBL does nothing.
	Want Want
	// Tag is handed back in the Result, for the caller to match them up.
	Tag any
}

// Result is what the look-ups of a Request found. Parts that were not
// wanted are zero; parts that failed are zero or partial and their errors
// are joined in Err. DNSBL results carry their own errors as well.
type Result struct {
	Request Request
	DNSBL   []DNSBLResult
	PTR     PTRResult
	ASN     ASNResult
	Err     error
}

// Enricher looks up DNSBL listings, reverse names and origin ASNs, either
// on request (the Lookup methods) or in the background (Submit). It is
// safe for concurrent use.
type Enricher struct {
	cfg   Config
	log   *zap.Logger
	res   *resolver
	table *ASNTable
	stats counters

	queue   chan Request
	results chan Result
	handler func(Result)

	mu       sync.Mutex
	started  bool
	stopped  atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New checks cfg, loads the ASN table if one is configured, and returns an
// Enricher ready for the Lookup methods; Submit's requests are served
// once Start is called. A nil logger discards messages.
func New(cfg Config, log *zap.Logger) (*Enricher, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Resolver == "" {
		cfg.Resolver = SystemResolver()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enrich config: %w", err)
	}
	zones := make([]string, len(cfg.DNSBLZones))
	for i, z := range cfg.DNSBLZones {
		zones[i] = normZone(z)
	}
	cfg.DNSBLZones = zones
	cfg.CymruOriginZone = normZone(cfg.CymruOriginZone)
	cfg.CymruOrigin6Zone = normZone(cfg.CymruOrigin6Zone)
	cfg.CymruASNZone = normZone(cfg.CymruASNZone)

	e := &Enricher{
		cfg:     cfg,
		log:     log,
		queue:   make(chan Request, cfg.QueueSize),
		results: make(chan Result, cfg.ResultQueue),
	}
	e.res = newResolver(cfg, &e.stats, log)
	if cfg.ASNTable != "" {
		t, err := LoadASNTable(cfg.ASNTable)
		if err != nil {
			return nil, err
		}
		for _, le := range t.LineErrors() {
			log.Warn("asn table: skipping bad line", zap.String("file", cfg.ASNTable),
				zap.Int("line", le.Line), zap.Error(le.Err))
		}
		if t.BadLines() > 0 {
			log.Warn("asn table: bad lines skipped", zap.String("file", cfg.ASNTable),
				zap.Int("bad", t.BadLines()), zap.Int("prefixes", t.Len()))
		}
		e.table = t
	}
	return e, nil
}

// Config returns the configuration in use, zone names normalised and the
// resolver filled in.
func (e *Enricher) Config() Config {
	c := e.cfg
	c.DNSBLZones = slices.Clone(c.DNSBLZones)
	return c
}

// Table returns the offline ASN table, nil when none is configured.
func (e *Enricher) Table() *ASNTable { return e.table }

// OnResult makes workers call fn with each result instead of sending it on
// the Results channel. Call it before Start. fn runs on the worker
// goroutines, concurrently; while it runs, that worker serves nothing else.
func (e *Enricher) OnResult(fn func(Result)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handler = fn
}

// Results returns the channel results are delivered on when no OnResult
// callback is set. It is closed by Stop.
func (e *Enricher) Results() <-chan Result { return e.results }

// Start launches the workers. They run until Stop or until ctx is done.
func (e *Enricher) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("enricher already started")
	}
	if e.stopped.Load() {
		return errors.New("enricher stopped")
	}
	e.started = true
	ctx, e.cancel = context.WithCancel(ctx)
	for range e.cfg.Workers {
		e.wg.Add(1)
		go e.work(ctx, e.handler)
	}
	e.log.Info("enricher started", zap.String("resolver", e.cfg.Resolver),
		zap.Int("workers", e.cfg.Workers), zap.Strings("dnsbl_zones", e.cfg.DNSBLZones))
	return nil
}

// Stop cancels the look-ups in progress, waits for the workers, counts the
// requests left in the queue as abandoned and closes the Results channel.
// Submit refuses requests afterwards. Stop may be called more than once.
func (e *Enricher) Stop() {
	e.stopOnce.Do(func() {
		e.stopped.Store(true)
		e.mu.Lock()
		cancel := e.cancel
		e.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		e.wg.Wait()
		for len(e.queue) > 0 {
			<-e.queue
			e.stats.abandoned.Add(1)
		}
		close(e.results)
	})
}

// Submit queues a request and returns at once. It returns false, and
// counts the request as dropped, when the queue is full or the Enricher is
// stopped.
func (e *Enricher) Submit(req Request) bool {
	if e.stopped.Load() {
		e.stats.dropped.Add(1)
		return false
	}
	select {
	case e.queue <- req:
		e.stats.submitted.Add(1)
		return true
	default:
		e.stats.dropped.Add(1)
		return false
	}
}

// Stats returns the counters.
func (e *Enricher) Stats() Stats {
	s := e.stats.snapshot()
	if e.res.cache != nil {
		s.CacheEntries = e.res.cache.len()
	}
	s.QueueLength = len(e.queue)
	return s
}

func (e *Enricher) work(ctx context.Context, handler func(Result)) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-e.queue:
			rctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
			res := e.Lookup(rctx, req)
			cancel()
			if ctx.Err() != nil {
				e.stats.abandoned.Add(1)
				return
			}
			if handler != nil {
				handler(res)
				e.stats.completed.Add(1)
				continue
			}
			select {
			case e.results <- res:
				e.stats.completed.Add(1)
			case <-ctx.Done():
				e.stats.abandoned.Add(1)
				return
			}
		}
	}
}

// Lookup does the look-ups req asks for, one after the other, and returns
// what they found. It is what the workers run for submitted requests.
func (e *Enricher) Lookup(ctx context.Context, req Request) Result {
	res := Result{Request: req}
	want := req.Want
	if want == 0 {
		want = WantAll
	}
	if !req.IP.IsValid() {
		res.Err = errors.New("invalid IP address")
		return res
	}
	var errs []error
	if want&WantDNSBL != 0 && len(e.cfg.DNSBLZones) > 0 {
		var err error
		res.DNSBL, err = e.LookupDNSBL(ctx, req.IP)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if want&WantPTR != 0 {
		var err error
		res.PTR, err = e.LookupPTR(ctx, req.IP)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if want&WantASN != 0 && e.hasASNSource(req.IP) {
		var err error
		res.ASN, err = e.LookupASN(ctx, req.IP)
		if err != nil {
			errs = append(errs, err)
		}
	}
	res.Err = errors.Join(errs...)
	return res
}

func (e *Enricher) hasASNSource(ip netip.Addr) bool {
	if e.table != nil {
		return true
	}
	if ip.Unmap().Is4() {
		return e.cfg.CymruOriginZone != ""
	}
	return e.cfg.CymruOrigin6Zone != ""
}

// checkIP unmaps ip and rejects invalid addresses.
func checkIP(ip netip.Addr) (netip.Addr, error) {
	if !ip.IsValid() {
		return ip, errors.New("invalid IP address")
	}
	return ip.Unmap().WithZone(""), nil
}

// LookupDNSBL asks every configured zone about ip, in order, and returns
// one result per zone. err joins the zones' errors; the results are
// complete even when it is set.
func (e *Enricher) LookupDNSBL(ctx context.Context, ip netip.Addr) ([]DNSBLResult, error) {
	ip, err := checkIP(ip)
	if err != nil {
		return nil, err
	}
	out := make([]DNSBLResult, 0, len(e.cfg.DNSBLZones))
	var errs []error
	for _, z := range e.cfg.DNSBLZones {
		r := e.dnsblZone(ctx, ip, z)
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// LookupDNSBLZone asks one zone, configured or not, about ip.
func (e *Enricher) LookupDNSBLZone(ctx context.Context, ip netip.Addr, zone string) (DNSBLResult, error) {
	ip, err := checkIP(ip)
	if err != nil {
		return DNSBLResult{}, err
	}
	zone = normZone(zone)
	if err := checkZone(zone); err != nil {
		return DNSBLResult{}, fmt.Errorf("dnsbl zone %q: %w", zone, err)
	}
	r := e.dnsblZone(ctx, ip, zone)
	return r, r.Err
}

// LookupPTR returns the reverse names of ip and the first forward-confirmed
// one. When no name is confirmed and a forward look-up failed, the result
// is returned with an error.
func (e *Enricher) LookupPTR(ctx context.Context, ip netip.Addr) (PTRResult, error) {
	ip, err := checkIP(ip)
	if err != nil {
		return PTRResult{}, err
	}
	return e.ptr(ctx, ip)
}

// LookupASN returns the origin of ip, from the ASN table when it has the
// address and else from Team Cymru. When AS names could not be fetched
// the result is returned with an error.
func (e *Enricher) LookupASN(ctx context.Context, ip netip.Addr) (ASNResult, error) {
	ip, err := checkIP(ip)
	if err != nil {
		return ASNResult{}, err
	}
	return e.asn(ctx, ip)
}

// setClock replaces the clock used for cache expiry (tests).
func (e *Enricher) setClock(now func() time.Time) { e.res.now = now }
