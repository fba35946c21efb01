package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Stats is what `mxsensor stats` shows of one running sensor, read from
// its pins (also its JSON form).
type Stats struct {
	Iface       string              `json:"iface"`
	Ifindex     uint32              `json:"ifindex"`
	PinDir      string              `json:"pin_dir"`
	Running     bool                `json:"running"`
	PID         uint32              `json:"pid"`
	XDPAttached bool                `json:"xdp_attached"`
	AttachMode  string              `json:"attach_mode"`
	ReplyMode   string              `json:"reply_mode"`
	Started     time.Time           `json:"started"`
	UptimeSec   float64             `json:"uptime_seconds"`
	RingSize    int                 `json:"ring_size_bytes"`
	RingPending int                 `json:"ring_pending_bytes"`
	Counters    map[string]uint64   `json:"counters"`
	PerCPU      []map[string]uint64 `json:"per_cpu"`

	total Counters
	per   []Counters
}

// ReadStats reads the stats of the sensor pinned in dir, its uptime
// counted to now. It consumes no ring record.
func ReadStats(dir string, now time.Time) (*Stats, error) {
	p, err := OpenPinned(dir)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	r := &Stats{Iface: p.Info.Ifname, Ifindex: p.Info.Ifindex, PinDir: dir, PID: p.Info.PID,
		Running: p.AgentAlive(), AttachMode: p.Info.AttachMode.String(), ReplyMode: p.Info.Mode.String(),
		Started: p.Info.Start.UTC(), UptimeSec: now.Sub(p.Info.Start).Seconds()}
	// The interface may live in another network namespace than ours; then we cannot tell.
	if att, _, err := XDPAttached(p.Info.Ifname); err == nil {
		r.XDPAttached = att
	}
	total, per, err := p.Counters()
	if err != nil {
		return nil, err
	}
	r.setCounters(total, per)
	if r.RingSize, r.RingPending, err = p.RingPending(); err != nil {
		return nil, err
	}
	return r, nil
}

// setCounters sets the counters, summed and per CPU, in both forms.
func (r *Stats) setCounters(total Counters, per []Counters) {
	r.total, r.per = total, per
	r.Counters = total.Map()
	for i := range per {
		r.PerCPU = append(r.PerCPU, per[i].Map())
	}
}

// WriteText writes r as a header and a table of the counters, with their
// rates since prev when prev is not nil.
func (r *Stats) WriteText(w io.Writer, prev *Stats) {
	state := "running"
	if !r.Running {
		state = "AGENT NOT RUNNING (stale pins: run `mxsensor detach --iface " + r.Iface + "`)"
	}
	fmt.Fprintf(w, "sensor on %s (ifindex %d): %s, pid %d, up %s\n", r.Iface, r.Ifindex, state, r.PID,
		time.Duration(r.UptimeSec*float64(time.Second)).Truncate(time.Second))
	fmt.Fprintf(w, "xdp %s mode, reply mode %s, ring %s with %s pending (%.1f%%)\n", r.AttachMode, r.ReplyMode,
		humanBytes(r.RingSize), humanBytes(r.RingPending), 100*float64(r.RingPending)/float64(max(r.RingSize, 1)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := "counter\ttotal\t"
	if prev != nil {
		hdr += "per sec\t"
	}
	for i := range r.per {
		hdr += fmt.Sprintf("cpu%d\t", i)
	}
	fmt.Fprintln(tw, hdr)
	dt := r.UptimeSec
	if prev != nil {
		dt = r.UptimeSec - prev.UptimeSec
	}
	for c := 0; c < NumCounters; c++ {
		if Counter(c).IsAnomaly() && r.total[c] == 0 {
			continue // anomaly kinds only when they happened
		}
		line := fmt.Sprintf("%s\t%d\t", Counter(c), r.total[c])
		if prev != nil && dt > 0 {
			line += fmt.Sprintf("%.1f\t", float64(r.total[c]-prev.total[c])/dt)
		}
		for i := range r.per {
			line += fmt.Sprintf("%d\t", r.per[i][c])
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// StatsDirs are the pin directories to show: iface's under root, or when
// iface is "" every sensor's pinned there (an error wrapping ErrNotRunning
// when there is none).
func StatsDirs(root, iface string) ([]string, error) {
	if iface != "" {
		return []string{filepath.Join(root, iface)}, nil
	}
	dirs, err := ListPinned(root)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: nothing pinned under %s (start one with `mxsensor run --iface IF`; if it runs with another --pin-dir, pass the same here)", ErrNotRunning, root)
	}
	return dirs, nil
}

// StatsOptions say how PrintStats shows the sensors.
type StatsOptions struct {
	JSON  bool // one JSON object per sensor per line, else text tables
	Watch bool // again every Interval (text: with rates) until ctx is done
	// Interval is the time between two reports with Watch.
	Interval time.Duration
	// Count, with Watch, stops after this many reports (0: no limit).
	Count int
}

// PrintStats writes the stats of the sensors pinned in dirs to w, once or
// (Watch) until ctx is done or Count reports were written.
func PrintStats(ctx context.Context, w io.Writer, dirs []string, o StatsOptions) error {
	prev := map[string]*Stats{}
	for n := 0; ; n++ {
		var reports []*Stats
		for _, d := range dirs {
			r, err := ReadStats(d, time.Now())
			if err != nil {
				if errors.Is(err, ErrNotRunning) {
					return fmt.Errorf("%w on %s (no pinned objects in %s)", ErrNotRunning, filepath.Base(d), d)
				}
				return err
			}
			reports = append(reports, r)
		}
		if o.JSON {
			enc := json.NewEncoder(w)
			for _, r := range reports {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		} else {
			if o.Watch && n > 0 {
				fmt.Fprintln(w, strings.Repeat("-", 60))
			}
			for _, r := range reports {
				r.WriteText(w, prev[r.PinDir])
				prev[r.PinDir] = r
			}
		}
		if !o.Watch || (o.Count > 0 && n+1 >= o.Count) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}
