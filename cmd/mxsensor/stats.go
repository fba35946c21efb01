package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// statsReport is what `mxsensor stats` shows for one sensor (also its JSON form).
type statsReport struct {
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

	total dataplane.Counters
	per   []dataplane.Counters
}

func collectStats(dir string, now time.Time) (*statsReport, error) {
	p, err := dataplane.OpenPinned(dir)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	r := &statsReport{Iface: p.Info.Ifname, Ifindex: p.Info.Ifindex, PinDir: dir, PID: p.Info.PID,
		Running: p.AgentAlive(), AttachMode: p.Info.AttachMode.String(), ReplyMode: p.Info.Mode.String(),
		Started: p.Info.Start.UTC(), UptimeSec: now.Sub(p.Info.Start).Seconds()}
	// The interface may live in another network namespace than ours; then we cannot tell.
	if att, _, err := dataplane.XDPAttached(p.Info.Ifname); err == nil {
		r.XDPAttached = att
	}
	if r.total, r.per, err = p.Counters(); err != nil {
		return nil, err
	}
	if r.RingSize, r.RingPending, err = p.RingPending(); err != nil {
		return nil, err
	}
	r.Counters = r.total.Map()
	for i := range r.per {
		r.PerCPU = append(r.PerCPU, r.per[i].Map())
	}
	return r, nil
}

func (r *statsReport) writeText(w io.Writer, prev *statsReport) {
	state := "running"
	if !r.Running {
		state = "AGENT NOT RUNNING (stale pins: run `mxsensor detach --iface " + r.Iface + "`)"
	}
	fmt.Fprintf(w, "sensor on %s (ifindex %d): %s, pid %d, up %s\n", r.Iface, r.Ifindex, state, r.PID,
		time.Duration(r.UptimeSec*float64(time.Second)).Truncate(time.Second))
	fmt.Fprintf(w, "xdp %s mode, reply mode %s, ring %s with %s pending (%.1f%%)\n", r.AttachMode, r.ReplyMode,
		human(r.RingSize), human(r.RingPending), 100*float64(r.RingPending)/float64(max(r.RingSize, 1)))
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
	for c := 0; c < dataplane.NumCounters; c++ {
		if dataplane.Counter(c).IsAnomaly() && r.total[c] == 0 {
			continue // anomaly kinds only when they happened
		}
		line := fmt.Sprintf("%s\t%d\t", dataplane.Counter(c), r.total[c])
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

func human(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// statsConfig is stats's section.
type statsConfig struct {
	Iface    string                  `mapstructure:"iface"`
	PinDir   string                  `mapstructure:"pin-dir"`
	JSON     bool                    `mapstructure:"json"`
	Watch    bool                    `mapstructure:"watch"`
	Interval config.PositiveDuration `mapstructure:"interval"`
	Count    int                     `mapstructure:"count"`
}

func newStatsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats [--iface IF] [--json] [--watch]",
		Short: "Show the counters and ring of a running sensor (reads pinned maps, consumes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c statsConfig
			_, err := loadConfig(cmd, &c)
			if err != nil {
				return err
			}
			root := c.PinDir
			var dirs []string
			if iface := c.Iface; iface != "" {
				dirs = []string{filepath.Join(root, iface)}
			} else if dirs, err = dataplane.ListPinned(root); err != nil {
				return err
			}
			if len(dirs) == 0 {
				return fmt.Errorf("%w: nothing pinned under %s (start one with `mxsensor run --iface IF`; if it runs with another --pin-dir, pass the same here)", dataplane.ErrNotRunning, root)
			}
			out := cmd.OutOrStdout()
			asJSON, watch := c.JSON, c.Watch
			interval := time.Duration(c.Interval)
			count := c.Count
			prev := map[string]*statsReport{}
			for n := 0; ; n++ {
				var reports []*statsReport
				for _, d := range dirs {
					r, err := collectStats(d, time.Now())
					if err != nil {
						if errors.Is(err, dataplane.ErrNotRunning) {
							return fmt.Errorf("%w on %s (no pinned objects in %s)", dataplane.ErrNotRunning, filepath.Base(d), d)
						}
						return err
					}
					reports = append(reports, r)
				}
				if asJSON {
					enc := json.NewEncoder(out)
					for _, r := range reports {
						if err := enc.Encode(r); err != nil {
							return err
						}
					}
				} else {
					if watch && n > 0 {
						fmt.Fprintln(out, strings.Repeat("-", 60))
					}
					for _, r := range reports {
						r.writeText(out, prev[r.PinDir])
						prev[r.PinDir] = r
					}
				}
				if !watch || (count > 0 && n+1 >= count) {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f := cmd.Flags()
	f.String("iface", "", "interface of the sensor (default: every sensor under --pin-dir)")
	f.String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory the sensor pinned under")
	f.Bool("json", false, "print JSON (one object per sensor per line)")
	f.Bool("watch", false, "repeat every --interval, with rates")
	config.PositiveDurationVar(f, "interval", time.Second, "refresh interval for --watch")
	f.Int("count", 0, "with --watch, stop after this many reports (0 = until interrupted)")
	return cmd
}
