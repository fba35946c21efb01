package dnsbl

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// shutdownWait bounds how long Serve waits for the queries in flight.
const shutdownWait = 5 * time.Second

// Feed keeps a server's list in step with its source: a Reloader (a
// results directory, a store, a list file) or a Watcher (the fleet's
// shared list).
type Feed interface {
	// Reload loads the source again now (SIGHUP), without waiting.
	Reload()
	// Stop stops following the source; the server keeps its list.
	Stop() error
	// Stats returns the loads done and failed so far.
	Stats() (loaded, failed uint64)
	// logFields describe the source in the log.
	logFields() []zap.Field
}

func (r *Reloader) logFields() []zap.Field {
	return []zap.Field{zap.String("source", r.cfg.Source.Path()), zap.Duration("reload", r.cfg.Interval)}
}

// Serve runs a started server and its started feed until ctx is done or
// serving fails, reloading at once on each value from hup (SIGHUP; nil
// for none). Then it stops the feed, shuts the server down and logs what
// was answered. It returns the error serving failed with.
func Serve(ctx context.Context, srv *Server, rl Feed, hup <-chan os.Signal, log *zap.Logger) error {
	f := []zap.Field{zap.Stringer("addr", srv.Addr()), zap.String("zone", srv.Zone())}
	f = append(f, rl.logFields()...)
	log.Info("dnsbl serving", append(f, zap.Int("entries", srv.Table().Len()), zap.Float64("rate_limit", srv.cfg.RateLimit))...)
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			rl.Reload()
		case serveErr = <-srv.Err():
			break loop
		}
	}
	rl.Stop()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && serveErr == nil {
		log.Warn("dnsbl shutdown", zap.Error(err))
	}
	loaded, failed := rl.Stats()
	f = []zap.Field{zap.Inline(srv.Stats()), zap.Uint64("reloads", loaded), zap.Uint64("reloads_failed", failed)}
	if p, ok := rl.(allowlisting); ok {
		kept, al, af := p.AllowlistStats()
		f = append(f, zap.Uint64("allowlisted", kept), zap.Uint64("allowlist_reloads", al), zap.Uint64("allowlist_reloads_failed", af))
	}
	log.Info("dnsbl stopped", f...)
	return serveErr
}

// allowlisting is a feed that applies an allowlist (Reloader, Watcher).
type allowlisting interface {
	AllowlistStats() (kept, loaded, failed uint64)
}

// MarshalLogObject writes the counts as log fields (the connections open
// now left out: a summary's are the totals).
func (st Stats) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, f := range []struct {
		name string
		n    uint64
	}{{"queries", st.Queries}, {"answers", st.Answers}, {"listed", st.Listed}, {"nxdomain", st.NXDomain}, {"nodata", st.NoData},
		{"refused", st.Refused}, {"notimp", st.NotImp}, {"formerr", st.FormErr}, {"badvers", st.BadVers},
		{"rate_limited", st.RateLimited}, {"malformed", st.Malformed}, {"ignored", st.Ignored}, {"expired", st.Expired}, {"write_errors", st.WriteErrors},
		{"tcp_accepted", st.TCPAccepted}, {"tcp_refused_per_source", st.TCPRefusedSource}, {"tcp_refused_total", st.TCPRefusedTotal}} {
		enc.AddUint64(f.name, f.n)
	}
	return nil
}
