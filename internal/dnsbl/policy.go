package dnsbl

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// gate decides when a changed file is loaded: on demand at once, on a
// poll once the change has stayed the same for one poll (not while a
// writer is still at it).
type gate struct {
	// stamp is the version last loaded (or that failed); pending a
	// changed version seen by one poll.
	stamp, pending stamp
}

// due reports whether the file at version st is to be loaded now.
func (g *gate) due(st stamp, poll bool) bool {
	if !poll {
		return true
	}
	if st.same(g.stamp) {
		return false // unchanged (or still the version that failed)
	}
	if !st.same(g.pending) {
		g.pending = st
		return false
	}
	return true
}

// policy applies a blocklist.Policy to the lists a feed serves, with the
// allowlist read from a file and followed as the Reloader follows its
// source: a file that fails to load keeps the old allowlist, counted and
// logged.
type policy struct {
	pol  blocklist.Policy // Allow and Now unused: the allowlist is the file's, Now the clock's
	path string           // the allowlist file ("": none)
	log  *zap.Logger
	// clock judges expiry at each publication: an entry expired by then
	// leaves the table, and with it the HTTP feed; the server still judges
	// each query, for the entries that expire between publications.
	clock func() time.Time
	// next is when the first entry published expires (zero: none), when
	// the list is due to be published again (expiring).
	next time.Time

	// The feed loop's state.
	gate    gate
	allow   *blocklist.Allowlist
	lastErr string

	// kept is the entries the allowlist kept out of the list served;
	// loaded and failed count the allowlist's reloads.
	kept, loaded, failed atomic.Uint64
}

// newPolicy loads the allowlist file (an error if it does not load: there
// is no old one to keep yet).
func newPolicy(pol blocklist.Policy, path string, log *zap.Logger) (*policy, error) {
	pol.Allow, pol.Now = nil, time.Time{}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	p := &policy{pol: pol, path: path, log: log, clock: time.Now}
	if path == "" {
		return p, nil
	}
	p.gate.stamp, _ = fileStamp(path)
	a, err := blocklist.LoadAllowlist(path)
	if err != nil {
		return nil, err
	}
	p.allow = a
	log.Info("dnsbl allowlist loaded", zap.String("allowlist", path), zap.Int("prefixes", a.Len()))
	return p, nil
}

// check reloads the allowlist if it is due (why is a trigger) and reports
// whether it changed.
func (p *policy) check(why string) bool {
	if p.path == "" {
		return false
	}
	st, err := fileStamp(p.path)
	var a *blocklist.Allowlist
	if err == nil {
		if !p.gate.due(st, why == triggerPoll) {
			return false
		}
		p.gate.stamp = st
		a, err = blocklist.LoadAllowlist(p.path)
	}
	if err != nil {
		p.failed.Add(1)
		if why != triggerPoll || err.Error() != p.lastErr {
			p.lastErr = err.Error()
			p.log.Error("dnsbl allowlist reload failed, keeping the old allowlist", zap.String("allowlist", p.path), zap.String("trigger", why), zap.Error(err))
		}
		return false
	}
	p.allow, p.lastErr = a, ""
	p.loaded.Add(1)
	p.log.Info("dnsbl allowlist reloaded", zap.String("allowlist", p.path), zap.String("trigger", why), zap.Int("prefixes", a.Len()))
	return true
}

// apply returns l under the policy and the current allowlist.
func (p *policy) apply(l *blocklist.List) *blocklist.List {
	pol := p.pol
	pol.Allow = p.allow
	if pol.Expire > 0 {
		pol.Now = p.clock()
	}
	out, err := l.Apply(pol)
	if err != nil { // cannot happen: validated in newPolicy
		p.log.Error("dnsbl policy not applied", zap.Error(err))
		return l
	}
	p.kept.Store(uint64(out.Stats.Allowlisted))
	p.next = time.Time{}
	if pol.Expire > 0 {
		for _, e := range out.Entries {
			if t := e.LastSeen.Add(pol.Expire); !e.LastSeen.IsZero() && (p.next.IsZero() || t.Before(p.next)) {
				p.next = t
			}
		}
	}
	return out
}

// expiring reports whether an entry published last has expired since.
func (p *policy) expiring() bool { return !p.next.IsZero() && !p.clock().Before(p.next) }

// fields are the policy's counts of l for the log.
func (p *policy) fields(l *blocklist.List) []zap.Field {
	var f []zap.Field
	if p.path != "" {
		f = append(f, zap.Int("allowlisted", l.Stats.Allowlisted))
	}
	if p.pol.WidenAt > 0 {
		f = append(f, zap.Int("widened", l.Stats.Widened), zap.Int("widened_from", l.Stats.WidenedFrom))
	}
	return f
}

// AllowlistStats returns the entries the allowlist keeps out of the list
// served now, and the allowlist's reloads done and failed.
func (p *policy) AllowlistStats() (kept, loaded, failed uint64) {
	return p.kept.Load(), p.loaded.Load(), p.failed.Load()
}
