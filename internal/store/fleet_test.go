package store

import (
	"io"
	"net/netip"
	"path/filepath"
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

// TestIngestFleetLabelAnyOrder: the rows end the same whether the
// rejection comes before or after the attempts it lists, and a second
// ingest of the same records changes nothing.
func TestIngestFleetLabelAnyOrder(t *testing.T) {
	v4, v6, rej := fleetRecords()
	var want [2]string
	for i, order := range [][]FleetRecord{{rej, v4, v6}, {v4, v6, rej}} {
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
		got := [2]string{readAll(t, s, record.AttemptsFile), readAll(t, s, record.AssociationsFile)}
		if !strings.Contains(got[0], `"blocklisted":true`) || !strings.Contains(got[1], `"spammer":true`) ||
			!strings.Contains(got[1], `"first_seen":"2024-05-01T12:00:00Z","blocklisted":true}`) {
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
		if st.Attempts.Duplicate != 1 || st.Associations.Duplicate != 1 || st.Rejections.Duplicate != 1 ||
			st.Attempts.New+st.Associations.New+st.Rejections.New+st.RelabelledAttempts+st.RelabelledAssociations != 0 {
			t.Errorf("second ingest: %+v", st)
		}
		if again := [2]string{readAll(t, s, record.AttemptsFile), readAll(t, s, record.AssociationsFile)}; again != got {
			t.Errorf("second ingest changed the rows")
		}
		var sp int
		if err := s.DB().QueryRow("SELECT spammer FROM associations").Scan(&sp); err != nil || sp != 1 {
			t.Errorf("spammer column %d %v", sp, err)
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
