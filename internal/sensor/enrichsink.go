package sensor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/linefile"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// EnrichSink hands every new source address seen at the sensor to the
// enricher (DNSBL, PTR, ASN) and writes the answers as JSON lines. Submit
// never blocks, so a slow or dead resolver cannot slow the SYN path: when
// the enricher's queue is full the request is dropped and counted.
type EnrichSink struct {
	e      *enrich.Enricher
	log    *zap.Logger
	recent map[netip.Addr]time.Time // sources submitted lately, to spare the queue
	again  time.Duration            // resubmit a source after this long
	maxMap int
	names  *enrich.NameCache // fed with every result, when set
	// persist, when set, keeps every result line (the store's enrichment
	// cache), so a restarted agent neither asks again nor forgets.
	persist func(ip netip.Addr, t time.Time, line []byte) error

	mu   sync.Mutex // guards out (results arrive on enricher goroutines)
	out  *linefile.File
	last time.Time
}

// NewEnrichSink starts e and appends its results to path. If names is not
// nil, every result also goes into it (for the association engine).
func NewEnrichSink(e *enrich.Enricher, path string, log *zap.Logger, names *enrich.NameCache) (*EnrichSink, error) {
	// Appended to, a torn last line cut off first; a full disk drops
	// lines (counted) and never stops the agent.
	f, err := linefile.Open(path, linefile.Config{Name: "enrich", Log: log, Retry: OutputRetry})
	if err != nil {
		return nil, fmt.Errorf("opening enrichment output: %w", err)
	}
	s := &EnrichSink{e: e, log: log, recent: map[netip.Addr]time.Time{}, again: time.Hour, maxMap: 1 << 16,
		out: f, last: time.Now(), names: names}
	e.OnResult(s.result)
	if err := e.Start(context.Background()); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *EnrichSink) result(r enrich.Result) {
	if s.names != nil {
		s.names.Put(r)
	}
	line := record.Enrichment{Time: time.Now().UTC(), IP: r.Request.IP, PTR: r.PTR, ASN: r.ASN}
	for _, d := range r.DNSBL {
		ed := record.DNSBLAnswer{Zone: d.Zone, Listed: d.Listed, Codes: d.Codes, Reasons: d.Reasons}
		if d.Err != nil {
			ed.Error = d.Err.Error()
		}
		line.DNSBL = append(line.DNSBL, ed)
	}
	if r.Err != nil {
		line.Error = r.Err.Error()
	}
	b := line.AppendJSON(make([]byte, 0, 512))
	if s.persist != nil {
		if err := s.persist(line.IP, line.Time, b[:len(b)-1]); err != nil {
			s.log.Warn("enrichment: cannot keep the result in the store", zap.Error(err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Write(b)
}

// Persist makes every result also go to fn (call before traffic flows).
func (s *EnrichSink) Persist(fn func(ip netip.Addr, t time.Time, line []byte) error) { s.persist = fn }

// Preload restores a result line kept by an earlier agent: its address is
// not asked again for an hour after it was answered, and its names go to
// the name cache. Lines that do not parse are skipped (reported false).
func (s *EnrichSink) Preload(line []byte) bool {
	var l record.Enrichment
	if err := json.Unmarshal(line, &l); err != nil {
		return false
	}
	if len(s.recent) < s.maxMap {
		s.recent[l.IP] = l.Time
	}
	if s.names != nil {
		s.names.Put(enrich.Result{Request: enrich.Request{IP: l.IP}, PTR: l.PTR, ASN: l.ASN})
	}
	return true
}

// Write implements Sink: it submits sources not submitted in the last hour.
func (s *EnrichSink) Write(ev *synevent.Event) error {
	if t, ok := s.recent[ev.Src]; ok && ev.Time.Sub(t) < s.again {
		return nil
	}
	if len(s.recent) >= s.maxMap {
		clear(s.recent) // bounded memory; the enricher's cache still spares the resolver
	}
	s.recent[ev.Src] = ev.Time
	s.e.Submit(enrich.Request{IP: ev.Src})
	return nil
}

// Flush implements Sink, and logs the enricher's counters once a minute.
func (s *EnrichSink) Flush() error {
	s.mu.Lock()
	s.out.Flush()
	s.mu.Unlock()
	if now := time.Now(); now.Sub(s.last) > time.Minute {
		s.last = now
		s.logStats("enrichment")
	}
	return nil
}

// Outputs reports the enrichment output's drops (for the metrics).
func (s *EnrichSink) Outputs(fn func(name string, dropped uint64, failing bool)) {
	fn("enrich", s.out.Dropped(), s.out.Failing())
}

// Stats returns the enricher's counters. It is safe to call from any goroutine.
func (s *EnrichSink) Stats() enrich.Stats { return s.e.Stats() }

func (s *EnrichSink) logStats(msg string) {
	st := s.e.Stats()
	s.log.Info(msg, zap.Uint64("submitted", st.Submitted), zap.Uint64("dropped", st.Dropped),
		zap.Uint64("completed", st.Completed), zap.Uint64("queries", st.Queries), zap.Uint64("timeouts", st.Timeouts),
		zap.Uint64("servfail", st.ServFail), zap.Uint64("nxdomain", st.NXDomain), zap.Uint64("cache_hits", st.CacheHits),
		zap.Uint64("rate_limited", st.RateLimited))
}

// Close implements Sink: it stops the enricher (abandoning queued requests,
// which are counted) and closes the output.
func (s *EnrichSink) Close() error {
	s.e.Stop()
	s.logStats("enrichment stopped")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Close()
}
