package agent

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/store"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// fake records its starts and stops in a shared log.
type fake struct {
	name      string
	log       *[]string
	failStart error
}

func (f *fake) Start() error {
	*f.log = append(*f.log, "start "+f.name)
	return f.failStart
}

func (f *fake) Stop() error {
	*f.log = append(*f.log, "stop "+f.name)
	return nil
}

func fakeAgent(log *[]string, fail string) *Agent {
	a := &Agent{log: zap.NewNop()}
	for _, name := range []string{"a", "b", "c"} {
		f := &fake{name: name, log: log}
		if name == fail {
			f.failStart = errors.New("no luck")
		}
		a.parts = append(a.parts, part{name, f})
	}
	return a
}

func TestAgentStartsInOrderStopsInReverse(t *testing.T) {
	var log []string
	a := fakeAgent(&log, "")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Errorf("got %q, want %q", log, want)
	}
	// A second Stop has nothing left to stop.
	if err := a.Stop(); err != nil || len(log) != len(want) {
		t.Errorf("second stop: %v, %q", err, log)
	}
}

func TestAgentFailedStartStopsTheStartedInReverse(t *testing.T) {
	var log []string
	a := fakeAgent(&log, "c")
	err := a.Start()
	if err == nil || !strings.Contains(err.Error(), "starting the c: no luck") {
		t.Fatalf("Start: %v", err)
	}
	want := []string{"start a", "start b", "start c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Errorf("got %q, want %q", log, want)
	}
	// Stop after a failed Start: nothing is stopped twice.
	if err := a.Stop(); err != nil || !slices.Equal(log, want) {
		t.Errorf("stop after a failed start: %v, %q", err, log)
	}
}

// testConfig is an agent with a store, results files and a reject log.
func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	cfg := Config{Sensor: sensor.DefaultConfig(), Events: filepath.Join(dir, "events.jsonl"),
		Store:  StoreConfig{Path: filepath.Join(dir, "db", "mxsensor.db"), Config: store.DefaultConfig()},
		OutDir: filepath.Join(dir, "out"), Fingerprints: fingerprint.Builtin()}
	cfg.Sensor.Iface = "eth0"
	cfg.Enrich.Out = filepath.Join(dir, "enrich.jsonl")
	return cfg
}

func partNames(a *Agent) []string {
	var names []string
	for _, p := range a.parts {
		names = append(names, p.name)
	}
	return names
}

// TestAgentOrder pins the dependency order of the real components.
func TestAgentOrder(t *testing.T) {
	a, err := New(testConfig(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metrics", "store", "outputs", "enricher", "pipeline", "reject logs", "heap limit", "sensor"}
	if got := partNames(a); !slices.Equal(got, want) {
		t.Errorf("start order %q, want %q", got, want)
	}
	// Without a store or results, neither they nor the pipeline.
	cfg := Config{Sensor: sensor.DefaultConfig()}
	cfg.Sensor.Iface = "eth0"
	if a, err = New(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if got := partNames(a); !slices.Equal(got, []string{"metrics", "sensor"}) {
		t.Errorf("bare agent: %q", got)
	}
}

// TestAgentCollectors: each component registers its own families, and
// only the components present do.
func TestAgentCollectors(t *testing.T) {
	families := func(a *Agent) map[string]bool {
		mfs, err := a.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, mf := range mfs {
			m[mf.GetName()] = true
		}
		return m
	}
	a, err := New(testConfig(t), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	got := families(a)
	for _, name := range []string{"mxsensor_up", "mxsensor_build_info", "mxsensor_store_batches_total", "mxsensor_store_dropped_rows_total",
		"mxsensor_pipeline_syns_total", "mxsensor_rejectlog_lines_total", "mxsensor_enrich_requests_total",
		"mxsensor_output_dropped_total", "mxsensor_outputs_failing", "go_goroutines"} {
		if !got[name] {
			t.Errorf("no %s before start", name)
		}
	}
	cfg := Config{Sensor: sensor.DefaultConfig()}
	cfg.Sensor.Iface = "eth0"
	if a, err = New(cfg, nil); err != nil {
		t.Fatal(err)
	}
	for name := range families(a) {
		for _, p := range []string{"mxsensor_pipeline_", "mxsensor_enrich_", "mxsensor_rejectlog_", "mxsensor_store_"} {
			if strings.HasPrefix(name, p) {
				t.Errorf("%s exported without its component", name)
			}
		}
	}
}

// TestStoreStoppedFirstRefuses: the store stopped before the parts that
// write to it (the wrong order) refuses their writes with an error, and
// counts them; nothing panics.
func TestStoreStoppedFirstRefuses(t *testing.T) {
	cfg := testConfig(t)
	st := newStorePart(cfg.Store, zap.NewNop())
	pl := newPipelinePart(cfg, newRejectLogsPart(cfg.RejectLog, st, nil, zap.NewNop()).set, nil, st, nil, zap.NewNop())
	for _, c := range []Component{st, pl} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	ev := synevent.Event{Time: time.Now(), Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
		SrcPort: 40000, DstPort: 25}
	if err := st.Write(&ev); !errors.Is(err, ErrStopped) {
		t.Errorf("write to the stopped store: %v", err)
	}
	if err := st.Flush(); !errors.Is(err, ErrStopped) {
		t.Errorf("flush of the stopped store: %v", err)
	}
	if n := st.Refused(); n != 2 {
		t.Errorf("refused %d, want 2", n)
	}
	// What holds the store itself (the pipeline, the followers) is refused
	// by it: an error, not a panic.
	if err := st.get().RecordRejection(ev.Src, ev.Time, "zen.example"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("rejection recorded in the closed store: %v", err)
	}
	if err := pl.Write(&ev); err != nil {
		t.Errorf("pipeline write: %v", err)
	}
	// Its last results are refused by the closed store: Stop says so.
	if err := pl.Stop(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("pipeline stop with its store closed: %v, want store.ErrClosed", err)
	}
	if err := pl.Write(&ev); !errors.Is(err, ErrStopped) {
		t.Errorf("write to the stopped pipeline: %v", err)
	}
	if err := st.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestComponentsNeverStarted: Stop of a component never started does
// nothing; using it is refused.
func TestComponentsNeverStarted(t *testing.T) {
	cfg := testConfig(t)
	st := newStorePart(cfg.Store, zap.NewNop())
	rl := newRejectLogsPart(cfg.RejectLog, st, nil, zap.NewNop())
	pl := newPipelinePart(cfg, rl.set, nil, st, nil, zap.NewNop())
	o := newOutputsPart(cfg.Events, cfg.Pcap, zap.NewNop())
	e := newEnricherPart(cfg.Enrich, nil, st, zap.NewNop())
	m := newMetricsPart(MetricsConfig{Listen: "127.0.0.1:0"}, nil, nil, nil, zap.NewNop())
	for _, c := range []Component{st, rl, pl, o, e, m} {
		if err := c.Stop(); err != nil {
			t.Errorf("%T: stop before start: %v", c, err)
		}
	}
	ev := synevent.Event{Time: time.Now()}
	for _, s := range []sensor.Sink{st, pl, o, e} {
		if err := s.Write(&ev); err == nil {
			t.Errorf("%T: write accepted", s)
		}
	}
	// Stopped, it cannot start.
	if err := st.Start(); err == nil {
		t.Error("store started after its stop")
	}
}
