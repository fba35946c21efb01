// Package metrics exports the agent's counters to Prometheus: collectors
// that read the live sources (the XDP program's counter map, the agent, the
// measurement pipeline, the enricher, the store) at scrape time, which the
// agent's parts register for the numbers they own, and an HTTP server for
// /metrics, /healthz and /livez.
package metrics

import (
	"errors"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
)

// Namespace prefixes every metric of ours.
const Namespace = "mxsensor"

// Agent is the live agent; *sensor.Sensor implements it. Every method must
// be safe to call while the agent runs.
type Agent interface {
	Stats() sensor.Stats
	Healthy() (ok bool, reason string)
	Attachment() (sensor.State, dataplane.AttachMode)
	// KernelCounters returns sensor.ErrNotAttached when no program is attached.
	KernelCounters() (dataplane.Counters, error)
	// RingUsage returns sensor.ErrNotAttached when the ring is not open.
	RingUsage() (size, pending int, err error)
}

var _ Agent = (*sensor.Sensor)(nil)

// PipelineSource is the live measurement pipeline; *pipeline.Pipeline
// implements it.
type PipelineSource interface {
	Stats() pipeline.Stats
}

// EnrichSource is the background enricher (its sink implements it).
type EnrichSource interface {
	Stats() enrich.Stats
}

// StoreSource is the results store; *store.Store implements it.
type StoreSource interface {
	Stats() store.Stats
}

// OutputNames are the agent's outputs, each exported from the start (at 0).
var OutputNames = []string{"events", "attempts", "associations", "enrich", "pcap", "store"}

// NewRegistry returns a registry (never the global one) holding the Go
// runtime and process collectors and mxsensor_build_info; each part of the
// agent registers its own collectors on it.
func NewRegistry(version string) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newBuildInfo(version),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// NewAgentCollector exports the agent's and its XDP program's counters.
func NewAgentCollector(a Agent, iface, replyMode string) prometheus.Collector {
	return newAgentCollector(a, iface, replyMode)
}

// NewPipelineCollector exports the measurement pipeline's counters.
func NewPipelineCollector(p PipelineSource) prometheus.Collector { return newPipelineCollector(p) }

// NewEnrichCollector exports the enricher's counters.
func NewEnrichCollector(e EnrichSource) prometheus.Collector { return newEnrichCollector(e) }

// NewRejectLogCollector exports the counts of the reject-log parsers that
// fn adds up.
func NewRejectLogCollector(fn func() rejectlog.Counters) prometheus.Collector {
	return newRejectLogCollector(fn)
}

// NewStoreCollector exports the results store's counters.
func NewStoreCollector(s StoreSource) prometheus.Collector { return newStoreCollector(s) }

// OutputReporter is an output that drops what it cannot write (a full
// disk) and counts it: fn is called with its name (one of OutputNames),
// the records dropped and whether it is failing now.
type OutputReporter interface {
	Outputs(fn func(name string, dropped uint64, failing bool))
}

// Outputs collects the outputs' drops into one family: each part of the
// agent adds its outputs, and the collector is registered once.
type Outputs struct {
	mu   sync.Mutex
	outs []OutputReporter
}

// Add adds an output. Safe while the collector is being scraped.
func (o *Outputs) Add(r OutputReporter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outs = append(o.outs, r)
}

// each calls fn for every output of every reporter added.
func (o *Outputs) each(fn func(name string, dropped uint64, failing bool)) {
	o.mu.Lock()
	outs := o.outs
	o.mu.Unlock()
	for _, r := range outs {
		r.Outputs(fn)
	}
}

// Collector returns the collector of the outputs' drops.
func (o *Outputs) Collector() prometheus.Collector { return newOutputCollector(o.each) }

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// describeAll sends every desc of a collector.
func describeAll(ch chan<- *prometheus.Desc, ds ...*prometheus.Desc) {
	for _, d := range ds {
		ch <- d
	}
}

// buildInfo is mxsensor_build_info.
type buildInfo struct {
	d       *prometheus.Desc
	version string
}

func newBuildInfo(version string) *buildInfo {
	if version == "" {
		version = "unknown"
	}
	return &buildInfo{d: desc("", "build_info", "Always 1; the labels say which mxsensor runs.", "version", "goversion"), version: version}
}

func (b *buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- b.d }
func (b *buildInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- gauge(b.d, 1, b.version, runtime.Version())
}

// xdpFamily says which metric family and label value a kernel counter is
// exported as. Label values are the counter names `mxsensor stats` shows.
func xdpFamily(c dataplane.Counter) (family, label string) {
	switch {
	case c == dataplane.CntPackets:
		return "packets_total", ""
	case c == dataplane.CntSynMatched:
		return "syns_matched_total", ""
	case c == dataplane.CntRecords:
		return "ring_records_total", ""
	case c == dataplane.CntRecordsLost:
		return "ring_records_lost_total", ""
	case c.IsOutcome():
		return "outcomes_total", c.String()
	case c.IsAnomaly():
		return "anomalies_total", c.String()
	}
	return "", ""
}

var xdpHelp = map[string]string{
	"packets_total":           "Frames the XDP program saw (each also bumps exactly one outcome).",
	"syns_matched_total":      "SYNs to a configured port (and local address) the XDP program recorded and acted on.",
	"ring_records_total":      "SYN records the XDP program wrote into the ring buffer.",
	"ring_records_lost_total": "SYN records the XDP program could not write because the ring buffer was full.",
	"outcomes_total":          "Frames by what the XDP program did with them: rst_sent (a RST handed to XDP_TX; in native mode on a veth whose peer has no XDP program the kernel drops it), rate_limited, observed, dropped, or pass_<reason> (passed to the kernel untouched).",
	"anomalies_total":         "Malformed headers by kind (each also counts as outcome pass_malformed or pass_ext_hdr).",
}

// agentCollector reads the agent and its XDP program.
type agentCollector struct {
	a                Agent
	iface, replyMode string

	up, info                       *prometheus.Desc
	xdp                            [dataplane.NumCounters]*prometheus.Desc
	xdpLabel                       [dataplane.NumCounters]string
	xdpDescs                       []*prometheus.Desc
	ringSize, ringPending          *prometheus.Desc
	read, short, written, sinkErrs *prometheus.Desc
}

func newAgentCollector(a Agent, iface, replyMode string) *agentCollector {
	c := &agentCollector{a: a, iface: iface, replyMode: replyMode,
		up:          desc("", "up", "1 while the agent is attached and draining the ring buffer, else 0 (see /healthz for why)."),
		info:        desc("xdp", "info", "1 while the XDP program is attached; the labels say where and how.", "iface", "attach_mode", "reply_mode"),
		ringSize:    desc("ring", "size_bytes", "Size of the ring buffer."),
		ringPending: desc("ring", "pending_bytes", "Bytes the XDP program wrote into the ring buffer that the agent has not read yet."),
		read:        desc("ring", "records_read_total", "SYN records the agent read from the ring buffer."),
		short:       desc("ring", "short_samples_total", "Ring buffer samples too short to be a SYN record (skipped; never expected)."),
		written:     desc("", "events_written_total", "SYN events every sink accepted."),
		sinkErrs:    desc("", "sink_errors_total", "Sink write and flush errors (the event is lost for that sink; the agent goes on)."),
	}
	families := map[string]*prometheus.Desc{}
	for i := range dataplane.NumCounters {
		fam, label := xdpFamily(dataplane.Counter(i))
		d, ok := families[fam]
		if !ok {
			var labels []string
			switch fam {
			case "outcomes_total":
				labels = []string{"outcome"}
			case "anomalies_total":
				labels = []string{"kind"}
			}
			d = desc("xdp", fam, xdpHelp[fam], labels...)
			families[fam] = d
			c.xdpDescs = append(c.xdpDescs, d)
		}
		c.xdp[i], c.xdpLabel[i] = d, label
	}
	return c
}

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.up, c.info, c.ringSize, c.ringPending, c.read, c.short, c.written, c.sinkErrs)
	describeAll(ch, c.xdpDescs...)
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if ok, _ := c.a.Healthy(); ok {
		up = 1
	}
	ch <- gauge(c.up, up)
	st := c.a.Stats()
	ch <- counter(c.read, st.Events)
	ch <- counter(c.short, st.Short)
	ch <- counter(c.written, st.Written)
	ch <- counter(c.sinkErrs, st.SinkErrors)

	// Before attach and after detach there is no program: its families are
	// absent rather than zero (a restarted agent starts from zero anyway).
	kc, err := c.a.KernelCounters()
	switch {
	case err == nil:
		for i, v := range kc {
			if c.xdpLabel[i] == "" {
				ch <- counter(c.xdp[i], v)
			} else {
				ch <- counter(c.xdp[i], v, c.xdpLabel[i])
			}
		}
		if state, mode := c.a.Attachment(); state == sensor.StateRunning {
			ch <- gauge(c.info, 1, c.iface, mode.String(), c.replyMode)
		}
	case !errors.Is(err, sensor.ErrNotAttached):
		// Served as a scrape error; the other families still are.
		ch <- prometheus.NewInvalidMetric(c.xdp[dataplane.CntPackets], err)
	}
	if size, pending, err := c.a.RingUsage(); err == nil {
		ch <- gauge(c.ringSize, float64(size))
		ch <- gauge(c.ringPending, float64(pending))
	}
}

// pipelineCollector reads the live measurement pipeline.
type pipelineCollector struct {
	p                                              PipelineSource
	syns, attempts, associated, spammers, degraded *prometheus.Desc
}

func newPipelineCollector(p PipelineSource) *pipelineCollector {
	return &pipelineCollector{p: p,
		syns:       desc("pipeline", "syns_total", "SYN events the measurement pipeline took in."),
		attempts:   desc("pipeline", "attempts_total", "connect() attempts the pipeline closed, by address family.", "family"),
		associated: desc("pipeline", "associations_total", "IPv6 attempts associated with an IPv4 address."),
		spammers:   desc("pipeline", "spammer_attempts_total", "IPv6 attempts associated with a known spammer (an IPv4 address in the reject logs or the DNSBLs)."),
		degraded:   desc("pipeline", "degraded_total", "Work done early or out of order to stay within the bounds on held state: attempts_closed_early (attempt bound), late_syns (SYNs later than the tolerated skew), ipv4_dropped and ipv6_decided_early (association bound), decisions_capped (candidate searches cut short by the bounds on one decision's work).", "what"),
	}
}

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.syns, c.attempts, c.associated, c.spammers, c.degraded)
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	ch <- counter(c.syns, s.SYNs)
	ch <- counter(c.attempts, s.IPv4, "ipv4")
	ch <- counter(c.attempts, s.IPv6, "ipv6")
	ch <- counter(c.associated, s.Associated)
	ch <- counter(c.spammers, s.Spammers)
	ch <- counter(c.degraded, s.ForcedAttempts, "attempts_closed_early")
	ch <- counter(c.degraded, s.LateSYNs, "late_syns")
	ch <- counter(c.degraded, s.DroppedIPv4, "ipv4_dropped")
	ch <- counter(c.degraded, s.EarlyIPv6, "ipv6_decided_early")
	ch <- counter(c.degraded, s.CappedDecisions, "decisions_capped")
}

// enrichCollector reads the enricher.
type enrichCollector struct {
	e                                             EnrichSource
	requests, queries, responses, nxdomain, errs  *prometheus.Desc
	truncated, cache, rateLimited, entries, queue *prometheus.Desc
}

func newEnrichCollector(e EnrichSource) *enrichCollector {
	return &enrichCollector{e: e,
		requests:    desc("enrich", "requests_total", "Look-up requests by what became of them: submitted, dropped (queue full), completed, abandoned (queued at stop).", "result"),
		queries:     desc("enrich", "dns_queries_total", "DNS queries sent, by transport.", "transport"),
		responses:   desc("enrich", "dns_responses_total", "DNS responses received, any rcode."),
		nxdomain:    desc("enrich", "dns_nxdomain_total", "NXDOMAIN responses (for a DNSBL: not listed)."),
		errs:        desc("enrich", "dns_errors_total", "Failed DNS queries by kind: timeout, network, servfail, refused, other_rcode.", "kind"),
		truncated:   desc("enrich", "dns_truncated_total", "UDP responses with TC set, retried over TCP."),
		cache:       desc("enrich", "cache_lookups_total", "Cache look-ups by result.", "result"),
		rateLimited: desc("enrich", "rate_limited_total", "Queries that waited for the query rate limit."),
		entries:     desc("enrich", "cache_entries", "Entries in the enricher's cache."),
		queue:       desc("enrich", "queue_length", "Requests waiting in the enricher's queue."),
	}
}

func (c *enrichCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.requests, c.queries, c.responses, c.nxdomain, c.errs, c.truncated, c.cache, c.rateLimited, c.entries, c.queue)
}

func (c *enrichCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	ch <- counter(c.requests, s.Submitted, "submitted")
	ch <- counter(c.requests, s.Dropped, "dropped")
	ch <- counter(c.requests, s.Completed, "completed")
	ch <- counter(c.requests, s.Abandoned, "abandoned")
	udp := uint64(0)
	if s.Queries > s.TCPQueries {
		udp = s.Queries - s.TCPQueries
	}
	ch <- counter(c.queries, udp, "udp")
	ch <- counter(c.queries, s.TCPQueries, "tcp")
	ch <- counter(c.responses, s.Answers)
	ch <- counter(c.nxdomain, s.NXDomain)
	ch <- counter(c.errs, s.Timeouts, "timeout")
	ch <- counter(c.errs, s.NetErrors, "network")
	ch <- counter(c.errs, s.ServFail, "servfail")
	ch <- counter(c.errs, s.Refused, "refused")
	ch <- counter(c.errs, s.OtherRcode, "other_rcode")
	ch <- counter(c.truncated, s.Truncated)
	ch <- counter(c.cache, s.CacheHits, "hit")
	ch <- counter(c.cache, s.CacheMisses, "miss")
	ch <- counter(c.rateLimited, s.RateLimited)
	ch <- gauge(c.entries, float64(s.CacheEntries))
	ch <- gauge(c.queue, float64(s.QueueLength))
}

// rejectLogCollector reads the reject-log parsers' counts.
type rejectLogCollector struct {
	fn                                            func() rejectlog.Counters
	lines, rejections, patterns, garbage, damaged *prometheus.Desc
}

func newRejectLogCollector(fn func() rejectlog.Counters) *rejectLogCollector {
	return &rejectLogCollector{fn: fn,
		lines:      desc("rejectlog", "lines_total", "Reject-log lines read."),
		rejections: desc("rejectlog", "rejections_total", "DNSBL rejections found in the reject logs."),
		patterns:   desc("rejectlog", "pattern_rejections_total", "Of rejections_total, those the operator's --reject-pattern patterns found (no built-in parser knew the line)."),
		garbage:    desc("rejectlog", "garbage_lines_total", "Reject-log lines skipped as garbage, by kind: too_long, invalid_utf8, control_chars, bad_timestamp, nul_run.", "kind"),
		damaged:    desc("rejectlog", "damaged_files_total", "Compressed reject-log files cut short or corrupt, read up to the damage."),
	}
}

func (c *rejectLogCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.lines, c.rejections, c.patterns, c.garbage, c.damaged)
}

func (c *rejectLogCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fn()
	ch <- counter(c.lines, s.Lines)
	ch <- counter(c.rejections, s.Matched)
	ch <- counter(c.patterns, s.Pattern)
	ch <- counter(c.garbage, s.TooLong, "too_long")
	ch <- counter(c.garbage, s.InvalidUTF8, "invalid_utf8")
	ch <- counter(c.garbage, s.ControlChars, "control_chars")
	ch <- counter(c.garbage, s.BadTimestamp, "bad_timestamp")
	ch <- counter(c.garbage, s.NULRuns, "nul_run")
	ch <- counter(c.damaged, s.DamagedFiles)
}

// storeCollector reads the results store.
type storeCollector struct {
	src                                       StoreSource
	batches, rows, errs, commitDelay, dropped *prometheus.Desc
}

func newStoreCollector(s StoreSource) *storeCollector {
	return &storeCollector{src: s,
		batches:     desc("store", "batches_total", "Batches committed to the store."),
		rows:        desc("store", "rows_total", "Rows written to the store."),
		errs:        desc("store", "errors_total", "Store errors."),
		commitDelay: desc("store", "last_commit_duration_seconds", "How long the latest store commit took."),
		dropped:     desc("store", "dropped_rows_total", "Rows dropped because the store fell behind or its disk is full (journal and sampled SYN rows first)."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.batches, c.rows, c.errs, c.commitDelay, c.dropped)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	ch <- counter(c.batches, st.Batches)
	ch <- counter(c.rows, st.Rows)
	ch <- counter(c.errs, st.Errors)
	ch <- gauge(c.commitDelay, st.LastCommit.Seconds())
	ch <- counter(c.dropped, st.Dropped)
}

// outputCollector reads the outputs' drops (a full disk).
type outputCollector struct {
	fn               func(fn func(name string, dropped uint64, failing bool))
	dropped, failing *prometheus.Desc
}

func newOutputCollector(fn func(fn func(name string, dropped uint64, failing bool))) *outputCollector {
	return &outputCollector{fn: fn,
		dropped: desc("output", "dropped_total", "Records an output could not write (full disk, I/O error) and dropped, by output: events, attempts, associations, enrich, pcap (lines or frames) and store (rows).", "output"),
		failing: desc("", "outputs_failing", "Outputs whose last write failed: they drop what comes and try again every second."),
	}
}

func (c *outputCollector) Describe(ch chan<- *prometheus.Desc) { describeAll(ch, c.dropped, c.failing) }

func (c *outputCollector) Collect(ch chan<- prometheus.Metric) {
	dropped := make(map[string]uint64, len(OutputNames))
	failing := 0
	c.fn(func(name string, d uint64, f bool) {
		dropped[name] += d
		if f {
			failing++
		}
	})
	for _, name := range OutputNames {
		ch <- counter(c.dropped, dropped[name], name)
	}
	ch <- gauge(c.failing, float64(failing))
}
