package fleettest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// Keys counts records by their key in a store ("kind|source|port|first
// seen", "rejections|address|time"), so that a fault test compares what a
// sensor produced with what a collector holds, each exactly once.
type Keys map[string]int

func key(k fleet.Kind, src netip.Addr, port uint16, t time.Time) string {
	return fmt.Sprintf("%s|%s|%d|%d", k, src, port, t.UnixNano())
}

// AddAttempt, AddAssociation and AddRejection count a record.
func (k Keys) AddAttempt(a *record.Attempt) {
	k[key(fleet.KindAttempt, a.Src, a.SrcPort, a.FirstSeen)]++
}

func (k Keys) AddAssociation(a *record.Association) {
	k[key(fleet.KindAssociation, a.Src, a.SrcPort, a.FirstSeen)]++
}

func (k Keys) AddRejection(r *record.Rejection) { k[key(fleet.KindRejection, r.IP, 0, r.Time)]++ }

// StoredKeys reads the keys of sensor's rows in the store at path (” for
// a sensor's own store).
func StoredKeys(t testing.TB, path, sensor string) Keys {
	t.Helper()
	st, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := Keys{}
	for _, q := range []struct {
		kind fleet.Kind
		sql  string
	}{
		{fleet.KindAttempt, "SELECT src, sport, first_seen FROM attempts WHERE sensor = ?"},
		{fleet.KindAssociation, "SELECT src, sport, first_seen FROM associations WHERE sensor = ?"},
		{fleet.KindRejection, "SELECT ip, 0, t FROM rejections WHERE sensor = ?"},
	} {
		rows, err := st.DB().Query(q.sql, sensor)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var src string
			var port uint16
			var ns int64
			if err := rows.Scan(&src, &port, &ns); err != nil {
				t.Fatal(err)
			}
			k[key(q.kind, netip.MustParseAddr(src), port, time.Unix(0, ns))]++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// Count is how many records of kind k there are (each key once or more).
func (k Keys) Count(kind fleet.Kind) int {
	n := 0
	for key, c := range k {
		if kd, _, _ := strings.Cut(key, "|"); kd == string(kind) {
			n += c
		}
	}
	return n
}

// Only returns the keys of the kinds given.
func (k Keys) Only(kinds ...fleet.Kind) Keys {
	o := Keys{}
	for key, n := range k {
		kind, _, _ := strings.Cut(key, "|")
		if slices.Contains(kinds, fleet.Kind(kind)) {
			o[key] = n
		}
	}
	return o
}

// Compare fails t unless got holds every key of want exactly once and
// nothing else.
func Compare(t testing.TB, what string, got, want Keys) {
	t.Helper()
	var missing, extra, repeated int
	var show []string
	for k := range want {
		if got[k] == 0 {
			missing++
			if len(show) < 5 {
				show = append(show, "missing "+k)
			}
		}
	}
	for k, n := range got {
		switch {
		case want[k] == 0:
			extra++
			if len(show) < 10 {
				show = append(show, "extra "+k)
			}
		case n > 1:
			repeated++
		}
	}
	if missing+extra+repeated > 0 || len(want) == 0 {
		t.Errorf("%s: %d keys, want %d: %d missing, %d not produced, %d more than once %v", what, len(got), len(want),
			missing, extra, repeated, show)
	}
}
