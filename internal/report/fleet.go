package report

import (
	"cmp"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// FleetSource is a source holding several sensors' results (a collector's
// store, internal/store): the report then sets them side by side.
type FleetSource interface {
	// Sensors are the sensors' ids, sorted.
	Sensors() ([]string, error)
	// Sensor is one sensor's results.
	Sensor(id string) results.Source
}

// Fleet is the report of a network of sensors beyond its fleet-wide
// tables: each sensor's summary (the talk's "production vs unused domain"
// comparison) and the spammers seen at several sensors.
type Fleet struct {
	Sensors []SensorSummary `json:"sensors"`
	Shared  []SharedSpammer `json:"spammers_at_several_sensors"`
}

// SensorSummary is one sensor's summary, labelled with the fleet's
// rejections.
type SensorSummary struct {
	Sensor  string  `json:"sensor"`
	Period  Period  `json:"period"`
	Summary Summary `json:"summary"`
}

// SharedSpammer is an IPv6 spammer /64 (by the fleet's vote) from which
// several sensors saw attempts.
type SharedSpammer struct {
	Prefix   netip.Prefix `json:"prefix"`
	Sensors  []string     `json:"sensors"`
	Attempts int          `json:"attempts"`
	// Spammer counts the attempts labelled spammer.
	Spammer int       `json:"spammer_attempts"`
	First   time.Time `json:"first_seen"`
	Last    time.Time `json:"last_seen"`
}

// buildFleet reports each sensor of fs and the spammer /64s (spam64, the
// fleet's) seen at more than one of them.
func buildFleet(fs FleetSource, ids []string, cfg Config, spam64 map[netip.Prefix]bool) (*Fleet, error) {
	cfg.Compare = ""
	f := &Fleet{}
	type agg struct {
		SharedSpammer
		seen map[string]bool
	}
	shared := map[netip.Prefix]*agg{}
	for _, id := range ids {
		src := fs.Sensor(id)
		r, err := BuildFrom(src, cfg)
		if err != nil {
			return nil, err
		}
		f.Sensors = append(f.Sensors, SensorSummary{Sensor: id, Period: r.Period, Summary: r.Summary})
		_, err = results.Scan(src, record.AssociationsFile, func(rd io.Reader) (record.Stats, error) {
			return record.ScanAssociations(rd, cfg.Window, func(a *record.Association) error {
				p := results.HostPrefix(a.Src, 64)
				if !spam64[p] {
					return nil
				}
				x := shared[p]
				if x == nil {
					x = &agg{SharedSpammer: SharedSpammer{Prefix: p, First: a.FirstSeen, Last: a.FirstSeen}, seen: map[string]bool{}}
					shared[p] = x
				}
				if !x.seen[id] {
					x.seen[id] = true
					x.Sensors = append(x.Sensors, id)
				}
				x.Attempts++
				if a.Spammer {
					x.Spammer++
				}
				if a.FirstSeen.Before(x.First) {
					x.First = a.FirstSeen
				}
				if a.FirstSeen.After(x.Last) {
					x.Last = a.FirstSeen
				}
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
	}
	for _, x := range shared {
		if len(x.Sensors) > 1 {
			s := x.SharedSpammer
			s.First, s.Last = s.First.UTC(), s.Last.UTC()
			f.Shared = append(f.Shared, s)
		}
	}
	slices.SortFunc(f.Shared, func(a, b SharedSpammer) int {
		if c := cmp.Compare(len(b.Sensors), len(a.Sensors)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Attempts, a.Attempts); c != 0 {
			return c
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	if len(f.Shared) > cfg.Top {
		f.Shared = f.Shared[:cfg.Top]
	}
	if f.Shared == nil {
		f.Shared = []SharedSpammer{}
	}
	return f, nil
}

// fleetTables lays out the fleet section: one column per sensor.
func fleetTables(f *Fleet) []table {
	per := table{name: "sensors", title: "Per sensor (labelled with every sensor's rejections)", header: []string{"measure"}}
	rows := []struct {
		name string
		cell func(s Summary) string
	}{
		{"IPv4 connect() attempts", func(s Summary) string { return itoa(s.Attempts4) }},
		{"  from DNSBL-listed addresses", func(s Summary) string { return countPct(s.Blocklisted4, s.BlocklistedSharePct) }},
		{"IPv6 connect() attempts", func(s Summary) string { return itoa(s.Attempts6) }},
		{"  associated with IPv4", func(s Summary) string { return countPct(s.Associated6, s.AssociatedPct) }},
		{"  from spammers", func(s Summary) string { return countPct(s.SpamAttemptsAssoc+s.SpamAttemptsUnasc, s.SpamSharePct) }},
		{"IPv6 spammer hosts (assoc / unassoc)", func(s Summary) string { return itoa(s.SpamHostsAssoc) + " / " + itoa(s.SpamHostsUnasc) }},
		{"IPv6 spammer /64s", func(s Summary) string { return itoa(s.Spam64s) }},
	}
	per.rows = append(per.rows, []string{"period"})
	for _, s := range f.Sensors {
		per.header = append(per.header, s.Sensor)
		per.rows[0] = append(per.rows[0], ts(s.Period.From)+" .. "+ts(s.Period.To))
	}
	for _, r := range rows {
		row := []string{r.name}
		for _, s := range f.Sensors {
			row = append(row, r.cell(s.Summary))
		}
		per.rows = append(per.rows, row)
	}
	shared := table{name: "shared_spammers", title: "IPv6 spammer /64s seen at several sensors",
		header: []string{"prefix", "sensors", "attempts", "spammer attempts", "first seen", "last seen"}}
	for _, s := range f.Shared {
		shared.rows = append(shared.rows, []string{s.Prefix.String(), strings.Join(s.Sensors, ","), itoa(s.Attempts), itoa(s.Spammer),
			ts(s.First), ts(s.Last)})
	}
	if len(f.Shared) == 0 {
		shared.note = "none"
	}
	return []table{per, shared}
}
