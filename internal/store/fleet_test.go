package store

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

var ft0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fleetRecords: s1 sees an IPv4 attempt from 192.0.2.7 and an IPv6 attempt
// associated with it; s2's reject log lists 192.0.2.7 an hour later.
func fleetRecords() (v4 FleetRecord, v6 FleetRecord, rej FleetRecord) {
	a := &record.Attempt{FirstSeen: ft0, LastSeen: ft0, Family: record.IPv4, Src: netip.MustParseAddr("192.0.2.7"), SrcPort: 4000,
		Dst: netip.MustParseAddr("198.51.100.25"), DstPort: 25, SYNs: 1, OSClass: "Linux"}
	as := &record.Association{FirstSeen: ft0.Add(time.Second), Src: netip.MustParseAddr("2001:db8::7"), SrcPort: 4001, SYNs: 1,
		OSClass: "Linux", AddrType: "eui64", IPv4: record.IPv4Ref{Src: a.Src, SrcPort: a.SrcPort, FirstSeen: a.FirstSeen},
		Score: 0.9, Evidence: []string{"order:x"}}
	r := &record.Rejection{Time: ft0.Add(time.Hour), IP: a.Src, Zone: "zen.example", MTA: record.MTAPostfixSMTPD}
	return FleetRecord{Sensor: "s1", Attempt: a}, FleetRecord{Sensor: "s1", Association: as}, FleetRecord{Sensor: "s2", Rejection: r}
}

// corroboration is an association at s3 of another address of the same
// /64 with the same IPv4 as fleetRecords' s1 association.
func corroboration() FleetRecord {
	_, v6, _ := fleetRecords()
	as := *v6.Association
	as.Src, as.SrcPort, as.FirstSeen = netip.MustParseAddr("2001:db8::9"), 5000, ft0.Add(30*time.Minute)
	return FleetRecord{Sensor: "s3", Association: &as}
}

// sortedLines sorts the lines of s (rows stored in another order).
func sortedLines(s string) string {
	l := strings.SplitAfter(s, "\n")
	slices.Sort(l)
	return strings.Join(l, "")
}

// permutations calls f with every order of recs.
func permutations(recs []FleetRecord, f func([]FleetRecord)) {
	if len(recs) <= 1 {
		f(recs)
		return
	}
	for i := range recs {
		rest := append(append([]FleetRecord{}, recs[:i]...), recs[i+1:]...)
		permutations(rest, func(p []FleetRecord) { f(append([]FleetRecord{recs[i]}, p...)) })
	}
}

// TestIngestFleetLabelAnyOrder: the rows end the same in every order of
// arrival (s2's rejection labels s1's association once s3 corroborates
// it), and a second ingest of the same records changes nothing.
func TestIngestFleetLabelAnyOrder(t *testing.T) {
	v4, v6, rej := fleetRecords()
	var want [2]string
	i := 0
	permutations([]FleetRecord{v4, v6, rej, corroboration()}, func(order []FleetRecord) {
		defer func() { i++ }()
		s, err := Open(filepath.Join(t.TempDir(), "c.db"), DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, r := range order {
			if _, err := s.Ingest([]FleetRecord{r}, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		got := [2]string{readAll(t, s, record.AttemptsFile), sortedLines(readAll(t, s, record.AssociationsFile))}
		if !strings.Contains(got[0], `"blocklisted":true`) || strings.Count(got[1], `"spammer":true`) != 2 ||
			strings.Count(got[1], `"first_seen":"2024-05-01T12:00:00Z","blocklisted":true}`) != 2 {
			t.Errorf("order %d: not labelled:\n%s%s", i, got[0], got[1])
		}
		if i == 0 {
			want = got
		} else if got != want {
			t.Errorf("order %d:\n%s%s\nwant\n%s%s", i, got[0], got[1], want[0], want[1])
		}
		st, err := s.Ingest(order, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if st.Attempts.Duplicate != 1 || st.Associations.Duplicate != 2 || st.Rejections.Duplicate != 1 ||
			st.Attempts.New+st.Associations.New+st.Rejections.New+st.RelabelledAttempts+st.RelabelledAssociations != 0 {
			t.Errorf("second ingest: %+v", st)
		}
		if again := [2]string{readAll(t, s, record.AttemptsFile), sortedLines(readAll(t, s, record.AssociationsFile))}; again != got {
			t.Errorf("second ingest changed the rows")
		}
		var sp int
		if err := s.DB().QueryRow("SELECT SUM(spammer) FROM associations").Scan(&sp); err != nil || sp != 2 {
			t.Errorf("spammer column %d %v", sp, err)
		}
	})
	if i != 24 {
		t.Errorf("%d orders, want 24", i)
	}
}

// TestIngestCorroboration: another sensor's rejection alone does not label
// an association (counted as uncorroborated), its own sensor's does; an
// association of another /64, or of the same sensor again, does not
// corroborate; another sensor's association of the pair does.
func TestIngestCorroboration(t *testing.T) {
	labels := func(s *Store) string {
		rows, err := s.DB().Query("SELECT sensor, spammer FROM associations ORDER BY sensor, first_seen")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			var sp int
			if err := rows.Scan(&id, &sp); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s=%d", id, sp))
		}
		return strings.Join(out, " ")
	}
	open := func() *Store {
		s, err := Open(filepath.Join(t.TempDir(), "c.db"), DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ingest := func(s *Store, recs ...FleetRecord) IngestStats {
		st, err := s.Ingest(recs, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	v4, v6, rej := fleetRecords()

	s := open()
	if st := ingest(s, v4, rej, v6); st.Uncorroborated != 1 || st.RelabelledAttempts != 1 || st.RelabelledAssociations+st.FleetLabelled != 0 {
		t.Errorf("another sensor's rejection: %+v", st)
	}
	again := *v6.Association
	again.SrcPort, again.FirstSeen = 4100, ft0.Add(time.Minute)
	other := *corroboration().Association
	other.Src = netip.MustParseAddr("2001:db8:0:1::9")
	ingest(s, FleetRecord{Sensor: "s1", Association: &again}, FleetRecord{Sensor: "s3", Association: &other})
	if got := labels(s); got != "s1=0 s1=0 s3=0" {
		t.Errorf("same sensor twice, another /64: %s", got)
	}
	if st := ingest(s, corroboration()); st.RelabelledAssociations != 2 || st.FleetLabelled != 1 {
		t.Errorf("corroborated: %+v", st)
	}
	if got := labels(s); got != "s1=1 s1=1 s3=0 s3=1" {
		t.Errorf("corroborated: %s", got)
	}

	own := rej
	own.Sensor = "s1"
	for _, order := range [][]FleetRecord{{own, v6}, {v6, own}} {
		s := open()
		ingest(s, order...)
		if got := labels(s); got != "s1=1" {
			t.Errorf("own sensor's rejection: %s", got)
		}
	}
}

// TestIngestWindow: a rejection further than the window from the attempt
// labels nothing; one sensor's attempt is another's key.
func TestIngestWindow(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v4, v6, rej := fleetRecords()
	st, err := s.Ingest([]FleetRecord{v4, v6, rej}, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.RelabelledAttempts+st.RelabelledAssociations+st.FleetLabelled != 0 {
		t.Errorf("outside the window: %+v", st)
	}
	other := v4
	other.Sensor = "s3"
	if st, err = s.Ingest([]FleetRecord{other}, 30*time.Minute); err != nil || st.Attempts.New != 1 {
		t.Errorf("another sensor's attempt: %+v %v", st, err)
	}
	ids, err := s.Sensors()
	if err != nil || strings.Join(ids, ",") != "s1,s3" {
		t.Errorf("sensors %v %v", ids, err)
	}
	r, err := s.Sensor("s3").Open(record.AttemptsFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if strings.Count(string(b), "\n") != 1 {
		t.Errorf("s3's attempts:\n%s", b)
	}
}
