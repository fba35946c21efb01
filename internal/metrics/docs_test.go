package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

type fakePublisher struct{}

func (fakePublisher) Stats() publish.Stats { return publish.Stats{Connected: true} }

// TestMetricsDocsAndDashboard: docs/metrics.md lists every family we
// export, and the Grafana dashboard is valid JSON that uses only those.
func TestMetricsDocsAndDashboard(t *testing.T) {
	reg, err := newTestRegistry(Sources{Agent: runningAgent(), Pipeline: fakePipeline{}, Enricher: fakeEnricher{},
		RejectLog: func() rejectlog.Counters { return rejectlog.Counters{} }, Store: fakeStore{},
		Publish: fakePublisher{}, Outputs: func(func(string, uint64, bool)) {}})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), Namespace+"_") {
			ours[mf.GetName()] = true
		}
	}
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range ours {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
	name := regexp.MustCompile(`\bmxsensor_[a-z_]+[a-z]`)
	for _, n := range name.FindAllString(string(doc), -1) {
		if !ours[n] && n != "mxsensor_stats" {
			t.Errorf("docs/metrics.md names %s, which is not exported", n)
		}
	}

	dash, err := os.ReadFile("../../docs/grafana/mxsensor-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || v.Type == "datasource"
	}
	if d.SchemaVersion == 0 || !hasDS || len(d.Panels) == 0 {
		t.Errorf("dashboard: schemaVersion %d, datasource variable %v, %d panels", d.SchemaVersion, hasDS, len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				if !ours[n] {
					t.Errorf("dashboard panel %q uses %s, which is not exported", p.Title, n)
				}
			}
		}
	}
}
