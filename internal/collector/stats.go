package collector

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/metrics"
)

// Stats are the collector's counters, safe to use from any goroutine.
type Stats struct {
	// by kind (fleet.Kinds order): records stored, and those whose key
	// was stored already.
	ingested, duplicates [5]atomic.Uint64
	malformed            atomic.Uint64
	relabelled           atomic.Uint64 // stored rows a later rejection labelled
	fleetLabelled        atomic.Uint64 // new rows labelled by the fleet's rejections
	uncorroborated       atomic.Uint64 // new associations only another sensor's rejection would label
	ingestErrors         atomic.Uint64
	ingestFailing        atomic.Bool
	pending              atomic.Uint64 // the consumer's lag, as the server last said
	listEntries          atomic.Int64
	listPuts, listDels   atomic.Uint64
	listErrors           atomic.Uint64

	mu      sync.Mutex
	sensors map[string]struct{}
}

// maxSensors bounds the set of sensor ids the collector counts (a
// misconfigured fleet sending random ids must not grow it for ever).
const maxSensors = 100000

func (s *Stats) init() { s.sensors = map[string]struct{}{} }

func (s *Stats) sawSensor(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sensors) < maxSensors {
		s.sensors[id] = struct{}{}
	}
}

func (s *Stats) nSensors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sensors)
}

// kindIndex is k's place in fleet.Kinds (-1 if unknown).
func kindIndex(k fleet.Kind) int {
	for i, x := range fleet.Kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// StatsSnapshot are the counters at one time.
type StatsSnapshot struct {
	// Ingested and Duplicates by kind.
	Ingested, Duplicates map[fleet.Kind]uint64
	Malformed            uint64
	Relabelled           uint64
	FleetLabelled        uint64
	Uncorroborated       uint64
	IngestErrors         uint64
	Pending              uint64
	Sensors              int
	ListEntries          int64
	ListPuts, ListDels   uint64
	ListErrors           uint64
}

func (s *Stats) snapshot() StatsSnapshot {
	out := StatsSnapshot{Ingested: map[fleet.Kind]uint64{}, Duplicates: map[fleet.Kind]uint64{},
		Malformed: s.malformed.Load(), Relabelled: s.relabelled.Load(), FleetLabelled: s.fleetLabelled.Load(),
		Uncorroborated: s.uncorroborated.Load(),
		IngestErrors:   s.ingestErrors.Load(), Pending: s.pending.Load(), Sensors: s.nSensors(),
		ListEntries: s.listEntries.Load(), ListPuts: s.listPuts.Load(), ListDels: s.listDels.Load(), ListErrors: s.listErrors.Load()}
	for i, k := range fleet.Kinds {
		out.Ingested[k], out.Duplicates[k] = s.ingested[i].Load(), s.duplicates[i].Load()
	}
	return out
}

// fields are the counters as log fields (the stop's summary).
func (s *Stats) fields() []zap.Field {
	x := s.snapshot()
	f := make([]zap.Field, 0, 16)
	for _, k := range fleet.Kinds {
		f = append(f, zap.Uint64(string(k), x.Ingested[k]))
	}
	var dup uint64
	for _, n := range x.Duplicates {
		dup += n
	}
	return append(f, zap.Uint64("duplicates", dup), zap.Uint64("malformed", x.Malformed),
		zap.Uint64("relabelled", x.Relabelled), zap.Uint64("fleet_labelled", x.FleetLabelled),
		zap.Uint64("uncorroborated", x.Uncorroborated),
		zap.Uint64("ingest_errors", x.IngestErrors), zap.Int("sensors", x.Sensors), zap.Int64("list_entries", x.ListEntries))
}

// metricsCollector exports the collector's counters at scrape time.
type metricsCollector struct {
	s                                                        *Stats
	ingested, duplicates, malformed, relabelled, fleetLabel  *prometheus.Desc
	uncorroborated                                           *prometheus.Desc
	ingestErrors, sensors, pending, entries, writes, listErr *prometheus.Desc
}

func newMetricsCollector(c *Collector) *metricsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "collector", name), help, labels, nil)
	}
	return &metricsCollector{s: &c.stats,
		ingested:       d("messages_ingested_total", "Records stored from the fleet's stream, by kind (status and SYN messages are counted, not stored).", "kind"),
		duplicates:     d("duplicates_total", "Records whose key was stored already (a redelivery, a second publish beyond the stream's duplicate window), by kind: ignored.", "kind"),
		malformed:      d("malformed_total", "Messages that could not be ingested (a body that does not decode, an unknown kind, a sensor id other than the subject's): acknowledged and dropped."),
		relabelled:     d("relabelled_total", "Stored rows a later rejection from any sensor made blocklisted or spammer."),
		fleetLabel:     d("fleet_labelled_total", "New rows labelled blocklisted or spammer by a rejection their own sensor had not seen."),
		uncorroborated: d("uncorroborated_total", "New associations whose IPv4 only other sensors' reject logs listed, left unlabelled until another sensor associates the same IPv6 /64 with it."),
		ingestErrors:   d("ingest_errors_total", "Batches the store failed to commit (not acknowledged: redelivered)."),
		sensors:        d("sensors", "Sensors whose records the collector holds."),
		pending:        d("consumer_pending", "Messages of the stream the collector's consumer has not yet been delivered (its lag)."),
		entries:        d("list_entries", "Entries of the shared spammer list as last built."),
		writes:         d("list_writes_total", "Writes to the shared list's bucket, by operation (put, delete).", "op"),
		listErr:        d("list_errors_total", "Builds or writes of the shared list that failed (tried again at the next interval)."),
	}
}

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.ingested, m.duplicates, m.malformed, m.relabelled, m.fleetLabel, m.uncorroborated, m.ingestErrors,
		m.sensors, m.pending, m.entries, m.writes, m.listErr} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	c := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	for i, k := range fleet.Kinds {
		c(m.ingested, s.ingested[i].Load(), string(k))
		c(m.duplicates, s.duplicates[i].Load(), string(k))
	}
	c(m.malformed, s.malformed.Load())
	c(m.relabelled, s.relabelled.Load())
	c(m.fleetLabel, s.fleetLabelled.Load())
	c(m.uncorroborated, s.uncorroborated.Load())
	c(m.ingestErrors, s.ingestErrors.Load())
	g(m.sensors, float64(s.nSensors()))
	g(m.pending, float64(s.pending.Load()))
	g(m.entries, float64(s.listEntries.Load()))
	c(m.writes, s.listPuts.Load(), "put")
	c(m.writes, s.listDels.Load(), "delete")
	c(m.listErr, s.listErrors.Load())
}
