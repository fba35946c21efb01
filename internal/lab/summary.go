//go:build linux

package lab

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// ClientResult is what the measurement made of one client.
type ClientResult struct {
	Client
	Deliveries int
	SYNs       int // raw clients: SYNs sent
	RSTs       int // raw clients: RSTs received
	Refused    int // Linux clients: connect() calls refused
	Connects   int // Linux clients: connect() calls made
	MedianRST  time.Duration
	// From the results directory.
	V4Attempts, V6Attempts int
	Associated             int // IPv6 attempts associated with the client's own IPv4
	WrongIPv4              int // IPv6 attempts associated with another client's IPv4
	Spammer                int // IPv6 attempts labelled spammer
	OSClass                string
	// A fleet lab's: what each sensor, and the collector, made of the
	// client (the counts above are the collector's), and the shared
	// list's DNSBL answer for its IPv6 address.
	PerSensor []SensorCounts
	DNSBL     string
	// Problems lists what did not go as the lab expected; empty is a pass.
	Problems []string
}

// SensorCounts is what one sensor of a fleet lab, and the collector from
// that sensor's records, made of one client.
type SensorCounts struct {
	Deliveries int
	// At the sensor (its results directory).
	V4, V6, Associated, WrongIPv4, Spammer int
	// In the collector's store: the fleet's view.
	FleetV4, FleetV6, FleetAssociated, FleetSpammer int
}

// OK reports whether the client behaved as expected.
func (c *ClientResult) OK() bool { return len(c.Problems) == 0 }

// Result is the summary of a lab run.
type Result struct {
	Dir     string
	Clients []ClientResult
	// A fleet lab's sensors and its checks of the network as a whole.
	Sensors []string
	Checks  []Check
}

// Check is one of a fleet lab's checks of the network as a whole.
type Check struct {
	OK     bool
	Detail string
}

// Failed counts the clients with problems and the failed checks.
func (r *Result) Failed() int {
	n := 0
	for i := range r.Clients {
		if !r.Clients[i].OK() {
			n++
		}
	}
	for _, c := range r.Checks {
		if !c.OK {
			n++
		}
	}
	return n
}

// tallies are what a source of results made of each client.
type tallies struct {
	v4, v6, associated, wrongIPv4, spammer int
	osClass                                string
}

// tally reads src's attempts and associations of the clients.
func tally(src results.Source, clients []Client) ([]tallies, error) {
	out := make([]tallies, len(clients))
	idx := map[netip.Addr]int{}
	for i, c := range clients {
		idx[c.IPv4], idx[c.IPv6] = i, i
	}
	if _, err := results.Scan(src, record.AttemptsFile, func(r io.Reader) (record.Stats, error) {
		return record.ScanAttempts(r, record.Window{}, func(a *record.Attempt) error {
			if i, ok := idx[a.Src]; ok {
				if a.Src.Is4() {
					out[i].v4++
				} else {
					out[i].v6++
				}
			}
			return nil
		})
	}); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if _, err := results.Scan(src, record.AssociationsFile, func(r io.Reader) (record.Stats, error) {
		return record.ScanAssociations(r, record.Window{}, func(a *record.Association) error {
			i, ok := idx[a.Src]
			if !ok {
				return nil
			}
			t := &out[i]
			if t.osClass == "" {
				t.osClass = a.OSClass
			}
			if a.Associated() {
				if a.IPv4.Src == clients[i].IPv4 {
					t.associated++
				} else {
					t.wrongIPv4++
				}
			}
			if a.Spammer {
				t.spammer++
			}
			return nil
		})
	}); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return out, nil
}

// newClientResult is client c's result from what it did (st).
func newClientResult(c Client, st *clientStats) ClientResult {
	cr := ClientResult{Client: c, Deliveries: st.Deliveries, SYNs: st.SYNs, RSTs: st.RSTs, Refused: st.Refused,
		Connects: 2 * st.Deliveries, Problems: slices.Clone(st.Failures)}
	if len(st.Latency) > 0 {
		l := slices.Clone(st.Latency)
		slices.Sort(l)
		cr.MedianRST = l[len(l)/2]
	}
	return cr
}

// checkTraffic adds the problems of what the sensors answered c.
func (c *ClientResult) checkTraffic() {
	if c.Kind == KindLinux && c.Refused < c.Connects {
		c.Problems = append(c.Problems, fmt.Sprintf("%d of %d connect() calls refused", c.Refused, c.Connects))
	}
	if c.Kind != KindLinux && c.RSTs < c.SYNs {
		c.Problems = append(c.Problems, fmt.Sprintf("%d of %d SYNs answered with a RST", c.RSTs, c.SYNs))
	}
}

// summarize reads the results directory and checks every client: each
// made IPv6 attempts; a listed client's IPv6 attempts are all associated
// with its own IPv4 address and labelled spammer; an unlisted client's are
// never labelled spammer nor associated with another client's address.
func summarize(dir string, clients []Client, tr *traffic) (*Result, error) {
	res := &Result{Dir: dir}
	ts, err := tally(results.Dir(dir), clients)
	if err != nil {
		return nil, err
	}
	for i, c := range clients {
		cr := newClientResult(c, tr.clients[c.Name].stats())
		t := ts[i]
		cr.V4Attempts, cr.V6Attempts, cr.Associated, cr.WrongIPv4, cr.Spammer, cr.OSClass = t.v4, t.v6, t.associated, t.wrongIPv4, t.spammer, t.osClass
		res.Clients = append(res.Clients, cr)
	}
	for i := range res.Clients {
		c := &res.Clients[i]
		switch {
		case c.V6Attempts == 0:
			c.Problems = append(c.Problems, "no IPv6 attempt recorded")
		case c.WrongIPv4 > 0:
			c.Problems = append(c.Problems, fmt.Sprintf("%d IPv6 attempts associated with another client's IPv4", c.WrongIPv4))
		case c.Listed && (c.Associated < c.V6Attempts || c.Spammer < c.V6Attempts):
			c.Problems = append(c.Problems, fmt.Sprintf("listed, but only %d of %d IPv6 attempts associated and %d labelled spammer",
				c.Associated, c.V6Attempts, c.Spammer))
		case !c.Listed && c.Spammer > 0:
			c.Problems = append(c.Problems, fmt.Sprintf("not listed, but %d IPv6 attempts labelled spammer", c.Spammer))
		}
		c.checkTraffic()
	}
	return res, nil
}

// print writes the clients' table.
func (r *Result) print(w io.Writer) {
	fmt.Fprintf(w, "==== lab clients: what they did and what the sensor made of them\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "client\tkind\tIPv4\tIPv6\tlisted\tdeliveries\tsensor's RSTs\tv4 att\tv6 att\tv6 assoc. with own IPv4\tv6 spammer\tos (v6)\tcheck")
	for i := range r.Clients {
		c := &r.Clients[i]
		listed := "no"
		if c.Listed {
			listed = "yes"
		}
		rst := fmt.Sprintf("%d/%d SYNs", c.RSTs, c.SYNs)
		if c.Kind == KindLinux {
			rst = fmt.Sprintf("%d/%d refused", c.Refused, c.Connects)
			if c.MedianRST > 0 {
				rst += fmt.Sprintf(", median %v", c.MedianRST.Round(time.Microsecond))
			}
		}
		check := "ok"
		if !c.OK() {
			check = "FAIL: " + strings.Join(c.Problems, "; ")
		}
		osc := c.OSClass
		if osc == "" {
			osc = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%d\t%s\t%d\t%d\t%d/%d\t%d/%d\t%s\t%s\n", c.Name, c.Kind, c.IPv4, c.IPv6, listed,
			c.Deliveries, rst, c.V4Attempts, c.V6Attempts, c.Associated, c.V6Attempts, c.Spammer, c.V6Attempts, osc, check)
	}
	tw.Flush()
	if n := r.Failed(); n == 0 {
		fmt.Fprintf(w, "\nall %d clients as expected: listed clients' IPv6 attempts associated with their IPv4 and labelled spammer, unlisted ones not\n", len(r.Clients))
	} else {
		fmt.Fprintf(w, "\n%d of %d clients NOT as expected\n", n, len(r.Clients))
	}
}
