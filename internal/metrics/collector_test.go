package metrics

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/pipeline"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
)

// fakeAgent is an Agent whose answers the test sets.
type fakeAgent struct {
	mu       sync.Mutex
	stats    sensor.Stats
	state    sensor.State
	mode     dataplane.AttachMode
	kc       dataplane.Counters
	kcErr    error
	size     int
	pending  int
	attached bool
}

func (f *fakeAgent) Stats() sensor.Stats { f.mu.Lock(); defer f.mu.Unlock(); return f.stats }
func (f *fakeAgent) Healthy() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state == sensor.StateRunning, f.state.String()
}
func (f *fakeAgent) Attachment() (sensor.State, dataplane.AttachMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.mode
}
func (f *fakeAgent) KernelCounters() (dataplane.Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.attached {
		return dataplane.Counters{}, sensor.ErrNotAttached
	}
	return f.kc, f.kcErr
}
func (f *fakeAgent) RingUsage() (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.attached {
		return 0, 0, sensor.ErrNotAttached
	}
	return f.size, f.pending, nil
}

type fakePipeline pipeline.Stats

func (f fakePipeline) Stats() pipeline.Stats { return pipeline.Stats(f) }

type fakeEnricher enrich.Stats

func (f fakeEnricher) Stats() enrich.Stats { return enrich.Stats(f) }

type fakeStore struct{}

func (fakeStore) Stats() store.Stats {
	return store.Stats{Batches: 3, Rows: 300, Errors: 1, Dropped: 7, LastCommit: 1500 * time.Millisecond}
}

// Sources are the parts a test registers, as the agent's parts do; a nil
// one registers nothing.
type Sources struct {
	Agent            Agent
	Iface, ReplyMode string
	Version          string
	Pipeline         PipelineSource
	Enricher         EnrichSource
	RejectLog        func() rejectlog.Counters
	Store            StoreSource
	Publish          PublishSource
	Outputs          func(fn func(name string, dropped uint64, failing bool))
}

type outputsFunc func(fn func(name string, dropped uint64, failing bool))

func (f outputsFunc) Outputs(fn func(name string, dropped uint64, failing bool)) { f(fn) }

func newTestRegistry(src Sources) (*prometheus.Registry, error) {
	reg, err := NewRegistry(src.Version)
	if err != nil {
		return nil, err
	}
	var cs []prometheus.Collector
	if src.Agent != nil {
		cs = append(cs, NewAgentCollector(src.Agent, src.Iface, src.ReplyMode))
	}
	if src.Pipeline != nil {
		cs = append(cs, NewPipelineCollector(src.Pipeline))
	}
	if src.Enricher != nil {
		cs = append(cs, NewEnrichCollector(src.Enricher))
	}
	if src.RejectLog != nil {
		cs = append(cs, NewRejectLogCollector(src.RejectLog))
	}
	if src.Store != nil {
		cs = append(cs, NewStoreCollector(src.Store))
	}
	if src.Publish != nil {
		cs = append(cs, NewPublishCollector(src.Publish))
	}
	if src.Outputs != nil {
		var o Outputs
		o.Add(outputsFunc(src.Outputs))
		cs = append(cs, o.Collector())
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func runningAgent() *fakeAgent {
	a := &fakeAgent{state: sensor.StateRunning, mode: dataplane.AttachGeneric, attached: true, size: 1 << 20, pending: 4096,
		stats: sensor.Stats{Events: 10, Written: 9, Short: 1, SinkErrors: 1}}
	a.kc[dataplane.CntPackets] = 20
	a.kc[dataplane.CntSynMatched] = 10
	a.kc[dataplane.CntRecords] = 10
	a.kc[dataplane.CntRSTSent] = 10
	a.kc[dataplane.CntPassOtherPort] = 7
	a.kc[dataplane.CntPassMalformed] = 3
	a.kc[dataplane.CntAnomTruncTCP] = 3
	return a
}

// TestMetricsEveryKernelCounterExported: each counter of the XDP program lands in
// exactly one series, so a counter added to the C header cannot go missing.
func TestMetricsEveryKernelCounterExported(t *testing.T) {
	seen := map[string]bool{}
	for i := range dataplane.NumCounters {
		c := dataplane.Counter(i)
		fam, label := xdpFamily(c)
		if fam == "" {
			t.Errorf("counter %s is not exported", c)
			continue
		}
		key := fam + "/" + label
		if seen[key] {
			t.Errorf("counter %s shares series %s", c, key)
		}
		seen[key] = true
	}
}

func TestMetricsAgentCollector(t *testing.T) {
	a := runningAgent()
	reg, err := newTestRegistry(Sources{Agent: a, Iface: "eth0", ReplyMode: "reject", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP mxsensor_xdp_outcomes_total Frames by what the XDP program did with them: rst_sent (a RST handed to XDP_TX; in native mode on a veth whose peer has no XDP program the kernel drops it), rate_limited, observed, dropped, or pass_<reason> (passed to the kernel untouched).
# TYPE mxsensor_xdp_outcomes_total counter
mxsensor_xdp_outcomes_total{outcome="dropped"} 0
mxsensor_xdp_outcomes_total{outcome="observed"} 0
mxsensor_xdp_outcomes_total{outcome="pass_bad_source"} 0
mxsensor_xdp_outcomes_total{outcome="pass_ext_hdr"} 0
mxsensor_xdp_outcomes_total{outcome="pass_fragment"} 0
mxsensor_xdp_outcomes_total{outcome="pass_malformed"} 3
mxsensor_xdp_outcomes_total{outcome="pass_not_ip"} 0
mxsensor_xdp_outcomes_total{outcome="pass_not_local"} 0
mxsensor_xdp_outcomes_total{outcome="pass_not_syn"} 0
mxsensor_xdp_outcomes_total{outcome="pass_not_tcp"} 0
mxsensor_xdp_outcomes_total{outcome="pass_other_port"} 7
mxsensor_xdp_outcomes_total{outcome="pass_reply_failed"} 0
mxsensor_xdp_outcomes_total{outcome="pass_vlan_depth"} 0
mxsensor_xdp_outcomes_total{outcome="rate_limited"} 0
mxsensor_xdp_outcomes_total{outcome="rst_sent"} 10
# HELP mxsensor_xdp_packets_total Frames the XDP program saw (each also bumps exactly one outcome).
# TYPE mxsensor_xdp_packets_total counter
mxsensor_xdp_packets_total 20
# HELP mxsensor_xdp_syns_matched_total SYNs to a configured port (and local address) the XDP program recorded and acted on.
# TYPE mxsensor_xdp_syns_matched_total counter
mxsensor_xdp_syns_matched_total 10
# HELP mxsensor_xdp_ring_records_total SYN records the XDP program wrote into the ring buffer.
# TYPE mxsensor_xdp_ring_records_total counter
mxsensor_xdp_ring_records_total 10
# HELP mxsensor_xdp_ring_records_lost_total SYN records the XDP program could not write because the ring buffer was full.
# TYPE mxsensor_xdp_ring_records_lost_total counter
mxsensor_xdp_ring_records_lost_total 0
# HELP mxsensor_xdp_info 1 while the XDP program is attached; the labels say where and how.
# TYPE mxsensor_xdp_info gauge
mxsensor_xdp_info{attach_mode="generic",iface="eth0",reply_mode="reject"} 1
# HELP mxsensor_up 1 while the agent is attached and draining the ring buffer, else 0 (see /healthz for why).
# TYPE mxsensor_up gauge
mxsensor_up 1
# HELP mxsensor_ring_records_read_total SYN records the agent read from the ring buffer.
# TYPE mxsensor_ring_records_read_total counter
mxsensor_ring_records_read_total 10
# HELP mxsensor_ring_short_samples_total Ring buffer samples too short to be a SYN record (skipped; never expected).
# TYPE mxsensor_ring_short_samples_total counter
mxsensor_ring_short_samples_total 1
# HELP mxsensor_events_written_total SYN events every sink accepted.
# TYPE mxsensor_events_written_total counter
mxsensor_events_written_total 9
# HELP mxsensor_sink_errors_total Sink write and flush errors (the event is lost for that sink; the agent goes on).
# TYPE mxsensor_sink_errors_total counter
mxsensor_sink_errors_total 1
# HELP mxsensor_ring_size_bytes Size of the ring buffer.
# TYPE mxsensor_ring_size_bytes gauge
mxsensor_ring_size_bytes 1.048576e+06
# HELP mxsensor_ring_pending_bytes Bytes the XDP program wrote into the ring buffer that the agent has not read yet.
# TYPE mxsensor_ring_pending_bytes gauge
mxsensor_ring_pending_bytes 4096
`
	names := []string{"mxsensor_xdp_outcomes_total", "mxsensor_xdp_packets_total", "mxsensor_xdp_syns_matched_total",
		"mxsensor_xdp_ring_records_total", "mxsensor_xdp_ring_records_lost_total", "mxsensor_xdp_info", "mxsensor_up",
		"mxsensor_ring_records_read_total", "mxsensor_ring_short_samples_total", "mxsensor_events_written_total",
		"mxsensor_sink_errors_total", "mxsensor_ring_size_bytes", "mxsensor_ring_pending_bytes"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Every anomaly kind is there, at 0 unless it happened.
	if n, err := testutil.GatherAndCount(reg, "mxsensor_xdp_anomalies_total"); err != nil || n != 10 {
		t.Errorf("anomalies: %d series, %v", n, err)
	}
	if v := gathered(t, reg, "mxsensor_xdp_anomalies_total", "kind", "anomaly_truncated_tcp"); v != 3 {
		t.Errorf("anomaly_truncated_tcp = %v", v)
	}
	if v := gathered(t, reg, "mxsensor_build_info", "version", "1.2.3"); v != 1 {
		t.Errorf("build_info = %v", v)
	}
	// The Go runtime and process collectors are registered too.
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// The counters are read live at each scrape.
	a.mu.Lock()
	a.kc[dataplane.CntRSTSent] += 5
	a.stats.Events += 5
	a.mu.Unlock()
	if v := gathered(t, reg, "mxsensor_xdp_outcomes_total", "outcome", "rst_sent"); v != 15 {
		t.Errorf("rst_sent after 5 more = %v", v)
	}
	if v := gathered(t, reg, "mxsensor_ring_records_read_total", "", ""); v != 15 {
		t.Errorf("records read after 5 more = %v", v)
	}
}

// TestMetricsAgentNotAttached: before attach the kernel families are absent and
// mxsensor_up is 0; a failed map read is a scrape error, not a panic.
func TestMetricsAgentNotAttached(t *testing.T) {
	a := &fakeAgent{state: sensor.StateStarting}
	reg, err := newTestRegistry(Sources{Agent: a})
	if err != nil {
		t.Fatal(err)
	}
	if v := gathered(t, reg, "mxsensor_up", "", ""); v != 0 {
		t.Errorf("up before attach = %v", v)
	}
	for _, name := range []string{"mxsensor_xdp_packets_total", "mxsensor_xdp_info", "mxsensor_ring_pending_bytes"} {
		if n, _ := testutil.GatherAndCount(reg, name); n != 0 {
			t.Errorf("%s exported before attach", name)
		}
	}
	a.attached, a.state, a.kcErr = true, sensor.StateRunning, errors.New("map gone")
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "map gone") {
		t.Errorf("gather with a failing counter map: %v", err)
	}
}

func TestMetricsOptionalSources(t *testing.T) {
	src := Sources{Agent: runningAgent(),
		Pipeline: fakePipeline{SYNs: 12, Attempts: 7, IPv4: 4, IPv6: 3, Associated: 2, Spammers: 1, DroppedIPv4: 5, LateSYNs: 2},
		Enricher: fakeEnricher{Queries: 10, TCPQueries: 1, Answers: 8, Timeouts: 2, NXDomain: 5, ServFail: 1,
			Submitted: 6, Dropped: 2, Completed: 4, CacheHits: 3, CacheMisses: 4, QueueLength: 1},
		RejectLog: func() rejectlog.Counters {
			return rejectlog.Counters{Lines: 10, Matched: 4, Pattern: 1, NotMatching: 3, Garbage: 3, TooLong: 1, BadTimestamp: 2}
		},
		Store: fakeStore{},
	}
	reg, err := newTestRegistry(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"mxsensor_pipeline_syns_total", "", "", 12},
		{"mxsensor_pipeline_attempts_total", "family", "ipv4", 4},
		{"mxsensor_pipeline_attempts_total", "family", "ipv6", 3},
		{"mxsensor_pipeline_associations_total", "", "", 2},
		{"mxsensor_pipeline_spammer_attempts_total", "", "", 1},
		{"mxsensor_pipeline_degraded_total", "what", "ipv4_dropped", 5},
		{"mxsensor_pipeline_degraded_total", "what", "late_syns", 2},
		{"mxsensor_pipeline_degraded_total", "what", "attempts_closed_early", 0},
		{"mxsensor_enrich_requests_total", "result", "dropped", 2},
		{"mxsensor_enrich_requests_total", "result", "completed", 4},
		{"mxsensor_enrich_dns_queries_total", "transport", "udp", 9},
		{"mxsensor_enrich_dns_queries_total", "transport", "tcp", 1},
		{"mxsensor_enrich_dns_errors_total", "kind", "timeout", 2},
		{"mxsensor_enrich_dns_errors_total", "kind", "servfail", 1},
		{"mxsensor_enrich_dns_nxdomain_total", "", "", 5},
		{"mxsensor_enrich_cache_lookups_total", "result", "hit", 3},
		{"mxsensor_enrich_queue_length", "", "", 1},
		{"mxsensor_rejectlog_lines_total", "", "", 10},
		{"mxsensor_rejectlog_rejections_total", "", "", 4},
		{"mxsensor_rejectlog_pattern_rejections_total", "", "", 1},
		{"mxsensor_rejectlog_garbage_lines_total", "kind", "bad_timestamp", 2},
		{"mxsensor_store_batches_total", "", "", 3},
		{"mxsensor_store_rows_total", "", "", 300},
		{"mxsensor_store_errors_total", "", "", 1},
		{"mxsensor_store_dropped_rows_total", "", "", 7},
		{"mxsensor_store_last_commit_duration_seconds", "", "", 1.5},
	} {
		if got := gathered(t, reg, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// Without them, none of their families.
	reg, err = newTestRegistry(Sources{Agent: runningAgent()})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, p := range []string{"mxsensor_pipeline_", "mxsensor_enrich_", "mxsensor_rejectlog_", "mxsensor_store_"} {
			if strings.HasPrefix(mf.GetName(), p) {
				t.Errorf("%s exported without its source", mf.GetName())
			}
		}
	}
}

// gathered returns the value of the series of name whose label has value
// (label "" for a family without labels); -1 if there is none.
func gathered(t *testing.T, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

// TestMetricsRealSensorBeforeRun: a real agent that has not attached yet is
// unhealthy, says why, and exports no kernel families.
func TestMetricsRealSensorBeforeRun(t *testing.T) {
	cfg := sensor.DefaultConfig()
	cfg.Iface = "test0"
	s, err := sensor.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason := s.Healthy(); ok || !strings.Contains(reason, "not attached") {
		t.Errorf("Healthy before Run = %v, %q", ok, reason)
	}
	if _, err := s.KernelCounters(); !errors.Is(err, sensor.ErrNotAttached) {
		t.Errorf("KernelCounters before Run: %v", err)
	}
	reg, err := newTestRegistry(Sources{Agent: s})
	if err != nil {
		t.Fatal(err)
	}
	if v := gathered(t, reg, "mxsensor_up", "", ""); v != 0 {
		t.Errorf("mxsensor_up = %v", v)
	}
	if n, _ := testutil.GatherAndCount(reg, "mxsensor_xdp_packets_total"); n != 0 {
		t.Error("kernel counters exported before attach")
	}
}

// TestMetricsOutputs: every output's dropped series exists from the start
// (at 0), the failing outputs are counted.
func TestMetricsOutputs(t *testing.T) {
	reg, err := newTestRegistry(Sources{Agent: runningAgent(), Outputs: func(fn func(string, uint64, bool)) {
		fn("events", 7, true)
		fn("store", 2, false)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "mxsensor_output_dropped_total"); err != nil || n != len(OutputNames) {
		t.Errorf("%d series, %v", n, err)
	}
	for name, want := range map[string]float64{"events": 7, "store": 2, "pcap": 0} {
		if v := gathered(t, reg, "mxsensor_output_dropped_total", "output", name); v != want {
			t.Errorf("%s: %v, want %v", name, v, want)
		}
	}
	if v := gathered(t, reg, "mxsensor_outputs_failing", "", ""); v != 1 {
		t.Errorf("outputs_failing %v", v)
	}
}
