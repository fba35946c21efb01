package enrich

import "sync/atomic"

// Stats are the Enricher's counters since New. Queries and answers count
// messages on the wire; cache hits never reach it.
type Stats struct {
	Queries     uint64 // queries sent (every attempt, UDP and TCP)
	TCPQueries  uint64 // of which over TCP
	Answers     uint64 // responses received, any rcode
	Timeouts    uint64 // attempts that got no response in time
	NetErrors   uint64 // attempts that failed otherwise (refused port, bad packet)
	NXDomain    uint64 // NXDOMAIN responses
	ServFail    uint64 // SERVFAIL responses
	Refused     uint64 // REFUSED responses
	OtherRcode  uint64 // responses with any other error rcode
	Truncated   uint64 // UDP responses with TC set, retried over TCP
	CacheHits   uint64
	CacheMisses uint64
	RateLimited uint64 // queries that waited for the rate limit

	Submitted uint64 // requests accepted by Submit
	Dropped   uint64 // requests refused by Submit: queue full or stopped
	Completed uint64 // requests looked up and delivered
	Abandoned uint64 // requests queued or running when Stop was called

	CacheEntries int // entries in the cache now
	QueueLength  int // requests waiting now
}

type counters struct {
	queries, tcpQueries, answers, timeouts, netErrors  atomic.Uint64
	nxdomain, servfail, refused, otherRcode, truncated atomic.Uint64
	cacheHits, cacheMisses, rateLimited                atomic.Uint64
	submitted, dropped, completed, abandoned           atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Queries:     c.queries.Load(),
		TCPQueries:  c.tcpQueries.Load(),
		Answers:     c.answers.Load(),
		Timeouts:    c.timeouts.Load(),
		NetErrors:   c.netErrors.Load(),
		NXDomain:    c.nxdomain.Load(),
		ServFail:    c.servfail.Load(),
		Refused:     c.refused.Load(),
		OtherRcode:  c.otherRcode.Load(),
		Truncated:   c.truncated.Load(),
		CacheHits:   c.cacheHits.Load(),
		CacheMisses: c.cacheMisses.Load(),
		RateLimited: c.rateLimited.Load(),
		Submitted:   c.submitted.Load(),
		Dropped:     c.dropped.Load(),
		Completed:   c.completed.Load(),
		Abandoned:   c.abandoned.Load(),
	}
}
