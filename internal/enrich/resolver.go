package enrich

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// Errors of a query; the returned errors wrap them with the query name.
var (
	ErrTimeout  = errors.New("no answer in time")
	ErrServFail = errors.New("server failure (SERVFAIL)")
	ErrRefused  = errors.New("query refused (REFUSED)")
	// ErrBadAnswer is a response that cannot be used: an unexpected rcode,
	// the wrong question, or records that do not parse.
	ErrBadAnswer = errors.New("unusable answer")
)

// resolver sends queries to one recursive resolver, through the cache and
// the rate limit, and counts what happens.
type resolver struct {
	addr    string
	timeout time.Duration
	retries int
	udpSize uint16
	udp     *dns.Client
	tcp     *dns.Client
	limit   *limiter
	cache   *cache // nil: no caching
	now     func() time.Time
	stats   *counters
	log     *zap.Logger

	minTTL, maxTTL, negTTL, maxNegTTL time.Duration
}

func newResolver(cfg Config, stats *counters, log *zap.Logger) *resolver {
	r := &resolver{
		addr:      cfg.Resolver,
		timeout:   cfg.Timeout,
		retries:   cfg.Retries,
		udpSize:   cfg.UDPSize,
		udp:       &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcp:       &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		limit:     newLimiter(cfg.QueriesPerSecond, cfg.Burst),
		now:       time.Now,
		stats:     stats,
		log:       log,
		minTTL:    cfg.MinTTL,
		maxTTL:    cfg.MaxTTL,
		negTTL:    cfg.NegativeTTL,
		maxNegTTL: cfg.MaxNegativeTTL,
	}
	if cfg.CacheEntries > 0 {
		r.cache = newCache(cfg.CacheEntries)
	}
	return r
}

// query returns the answer to name/qtype, from the cache when it holds
// one. NXDOMAIN is an answer (rcode set), not an error.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (answer, error) {
	name = dns.Fqdn(strings.ToLower(name))
	key := name + "/" + dns.TypeToString[qtype]
	if r.cache != nil {
		if a, ok := r.cache.get(key, r.now()); ok {
			r.stats.cacheHits.Add(1)
			return a, nil
		}
		r.stats.cacheMisses.Add(1)
	}
	resp, err := r.exchange(ctx, name, qtype)
	if err != nil {
		return answer{}, err
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		if resp.Rcode == dns.RcodeNameError {
			r.stats.nxdomain.Add(1)
		}
		a := answer{rcode: resp.Rcode, rrs: resp.Answer}
		if ttl := r.ttl(resp); r.cache != nil && ttl > 0 {
			r.cache.put(key, a, r.now().Add(ttl))
		}
		return a, nil
	case dns.RcodeServerFailure:
		r.stats.servfail.Add(1)
		return answer{}, fmt.Errorf("%s %s: %w", qname(name), dns.TypeToString[qtype], ErrServFail)
	case dns.RcodeRefused:
		r.stats.refused.Add(1)
		return answer{}, fmt.Errorf("%s %s: %w", qname(name), dns.TypeToString[qtype], ErrRefused)
	default:
		r.stats.otherRcode.Add(1)
		return answer{}, fmt.Errorf("%s %s: rcode %s: %w", qname(name), dns.TypeToString[qtype],
			dns.RcodeToString[resp.Rcode], ErrBadAnswer)
	}
}

// ttl returns how long to cache a response: the smallest TTL of its
// answer records, or for a negative response the RFC 2308 SOA value (else
// the configured negative TTL), clamped.
func (r *resolver) ttl(resp *dns.Msg) time.Duration {
	if resp.Rcode == dns.RcodeSuccess && len(resp.Answer) > 0 {
		low := resp.Answer[0].Header().Ttl
		for _, rr := range resp.Answer[1:] {
			low = min(low, rr.Header().Ttl)
		}
		return clamp(time.Duration(low)*time.Second, r.minTTL, r.maxTTL)
	}
	d := r.negTTL
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			d = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			break
		}
	}
	return clamp(d, r.minTTL, r.maxNegTTL)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

// qname drops the trailing dot for messages.
func qname(name string) string { return strings.TrimSuffix(name, ".") }

// exchange sends the query over UDP, once more per retry after a timeout or
// network error, and over TCP when the UDP response is truncated.
func (r *resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	if r.udpSize > 0 {
		m.SetEdns0(r.udpSize, false)
	}
	var lastErr error
	for attempt := 0; attempt <= r.retries; attempt++ {
		m.Id = dns.Id()
		resp, err := r.send(ctx, r.udp, m)
		if err == nil {
			if !resp.Truncated {
				return resp, nil
			}
			r.stats.truncated.Add(1)
			m.Id = dns.Id()
			return r.send(ctx, r.tcp, m)
		}
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			// Cancelled, or the rate limit would outlast the deadline.
			return nil, err
		}
		lastErr = err
		r.log.Debug("dns query failed", zap.String("name", name),
			zap.String("type", dns.TypeToString[qtype]), zap.Int("attempt", attempt+1), zap.Error(err))
	}
	return nil, lastErr
}

// send does one exchange with the resolver, after waiting for the rate
// limit, and checks that the response answers the question.
func (r *resolver) send(ctx context.Context, c *dns.Client, m *dns.Msg) (*dns.Msg, error) {
	q := m.Question[0]
	what := qname(q.Name) + " " + dns.TypeToString[q.Qtype]
	if d := r.limit.reserve(); d > 0 {
		r.stats.rateLimited.Add(1)
		if err := r.limit.sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("%s: waiting for the rate limit: %w", what, err)
		}
	}
	r.stats.queries.Add(1)
	if c.Net == "tcp" {
		r.stats.tcpQueries.Add(1)
	}
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.roundTrip(actx, c, m)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		var ne net.Error
		if actx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			r.stats.timeouts.Add(1)
			return nil, fmt.Errorf("%s via %s: %w", what, r.addr, ErrTimeout)
		}
		r.stats.netErrors.Add(1)
		return nil, fmt.Errorf("%s via %s: %w", what, r.addr, err)
	}
	r.stats.answers.Add(1)
	if len(resp.Question) != 1 || resp.Question[0].Qtype != q.Qtype ||
		!strings.EqualFold(resp.Question[0].Name, q.Name) {
		return nil, fmt.Errorf("%s: response is for another question: %w", what, ErrBadAnswer)
	}
	return resp, nil
}

// roundTrip exchanges m over a new connection. Cancelling ctx interrupts
// the exchange at once (the connection's deadline is moved to now).
func (r *resolver) roundTrip(ctx context.Context, c *dns.Client, m *dns.Msg) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, r.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return resp, err
}
