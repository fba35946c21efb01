//go:build linux

package main

import (
	"fmt"
	"io"
	"time"
)

// perCPUSecond is n per second of CPU time (0 when no time was used).
func perCPUSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// allRecorded is the check that every matched SYN left a ring record or was
// counted as lost.
func allRecorded(c map[string]uint64) bool {
	return c["records"]+c["records_lost"] == c["syn_matched"]
}

func printTable(w io.Writer, cfg config, cases []string, rs map[string]*result) {
	names := map[string]string{caseNative: "XDP native", caseGeneric: "XDP generic", caseKernel: "kernel path",
		caseStore: "XDP native, --out and --db"}
	fmt.Fprintf(w, "Flood: at most %d IPv4 SYN frames or %v per case, %d distinct sources.\n\n",
		cfg.frames, cfg.duration, cfg.sources)
	fmt.Fprint(w, "| figure |")
	for _, c := range cases {
		fmt.Fprintf(w, " %s |", names[c])
	}
	fmt.Fprint(w, "\n|---|")
	for range cases {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	row := func(label string, f func(r *result) string) {
		fmt.Fprintf(w, "| %s |", label)
		for _, c := range cases {
			fmt.Fprintf(w, " %s |", f(rs[c]))
		}
		fmt.Fprintln(w)
	}
	counter := func(name string) func(r *result) string {
		return func(r *result) string {
			if r.counters == nil {
				return "–"
			}
			return group(r.counters[name])
		}
	}
	row("frames sent", func(r *result) string { return group(r.sent) })
	row("flood time", func(r *result) string { return fmt.Sprintf("%.2f s", r.elapsed.Seconds()) })
	row("send rate", func(r *result) string {
		return group(uint64(float64(r.sent)/r.elapsed.Seconds())) + " /s"
	})
	row("frames received by the sensor's veth", func(r *result) string { return group(r.sensRx) })
	row("rx_dropped, sensor's veth end", func(r *result) string { return group(r.sensDrop) })
	row("tx_dropped, generator's veth end", func(r *result) string { return group(r.genDrop) })
	row("RSTs dropped on the way back (veth counters)", func(r *result) string { return group(r.retDrop) })
	row("RSTs received by the generator", func(r *result) string { return group(r.rsts) })
	row("syn_matched", counter("syn_matched"))
	row("rst_sent", counter("rst_sent"))
	row("records", counter("records"))
	row("records_lost", counter("records_lost"))
	row("every SYN recorded or counted as lost", func(r *result) string {
		if r.counters == nil {
			return "–"
		}
		return yesNo(allRecorded(r.counters))
	})
	row("machine CPU (all CPUs)", func(r *result) string { return fmt.Sprintf("%.2f s", r.machineCPU.Seconds()) })
	row("of which the generator's sending thread", func(r *result) string { return fmt.Sprintf("%.2f s", r.genCPU.Seconds()) })
	row("agent process CPU", func(r *result) string {
		if r.counters == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f s", r.agentCPU.Seconds())
	})
	// Per SYN recorded: a SYN lost to a full ring costs the agent nothing.
	row("agent CPU per SYN recorded", func(r *result) string {
		if r.counters == nil || r.counters["records"] == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f µs", r.agentCPU.Seconds()*1e6/float64(r.counters["records"]))
	})
	row("agent max RSS", func(r *result) string {
		if r.counters == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f MB", float64(r.agentRSS)/1e6)
	})
	row("**RSTs per CPU-second**", func(r *result) string {
		return "**" + group(uint64(perCPUSecond(r.rsts, r.machineCPU))) + "**"
	})
	row("RSTs per CPU-second of the machine minus the generator thread", func(r *result) string {
		return group(uint64(perCPUSecond(r.rsts, r.machineCPU-r.genCPU)))
	})

	k, ok := rs[caseKernel]
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| bar | mode | result | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range []string{caseNative, caseGeneric, caseStore} {
		r := rs[c]
		if r == nil {
			continue
		}
		fmt.Fprintf(w, "| every SYN recorded or counted as lost | %s | %s + %s = %s of %s | %s |\n", names[c],
			group(r.counters["records"]), group(r.counters["records_lost"]),
			group(r.counters["records"]+r.counters["records_lost"]), group(r.counters["syn_matched"]),
			yesNo(allRecorded(r.counters)))
		// The store case's CPU includes the pipeline's: not the XDP answer's bar.
		if ok && c != caseStore {
			ours, theirs := perCPUSecond(r.rsts, r.machineCPU), perCPUSecond(k.rsts, k.machineCPU)
			ratio := 0.0
			if theirs > 0 {
				ratio = ours / theirs
			}
			fmt.Fprintf(w, "| more RSTs per CPU-second than the kernel path | %s | %s vs %s (%.2f×) | %s |\n", names[c],
				group(uint64(ours)), group(uint64(theirs)), ratio, yesNo(ours > theirs))
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// group formats n with thousands separators.
func group(n uint64) string {
	s := fmt.Sprint(n)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
