//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"io"
)

// jsonReport is the -json output: the settings, every case's figures, and
// the markdown tables the default output prints.
type jsonReport struct {
	Frames    uint64     `json:"frames"`
	DurationS float64    `json:"duration_s"`
	Sources   int        `json:"sources"`
	Cases     []jsonCase `json:"cases"`
	Table     string     `json:"table"`
}

// jsonCase is one case's figures; times are in seconds. Counters are the
// agent's kernel counters over the flood (absent for the kernel path).
type jsonCase struct {
	Case               string            `json:"case"`
	Sent               uint64            `json:"sent"`
	ElapsedS           float64           `json:"elapsed_s"`
	SensorRx           uint64            `json:"sensor_rx"`
	SensorRxDropped    uint64            `json:"sensor_rx_dropped"`
	GeneratorTxDropped uint64            `json:"generator_tx_dropped"`
	ReturnDropped      uint64            `json:"return_dropped"`
	RSTs               uint64            `json:"rsts"`
	MachineCPUS        float64           `json:"machine_cpu_s"`
	GeneratorCPUS      float64           `json:"generator_cpu_s"`
	AgentCPUS          float64           `json:"agent_cpu_s"`
	AgentMaxRSSBytes   uint64            `json:"agent_max_rss_bytes,omitempty"`
	RSTsPerCPUSecond   float64           `json:"rsts_per_cpu_second"`
	Counters           map[string]uint64 `json:"counters,omitempty"`
}

func writeJSON(w io.Writer, cfg config, cases []string, rs map[string]*result) error {
	var table bytes.Buffer
	printTable(&table, cfg, cases, rs)
	rep := jsonReport{Frames: cfg.frames, DurationS: cfg.duration.Seconds(), Sources: cfg.sources, Table: table.String()}
	for _, c := range cases {
		r := rs[c]
		rep.Cases = append(rep.Cases, jsonCase{
			Case: c, Sent: r.sent, ElapsedS: r.elapsed.Seconds(),
			SensorRx: r.sensRx, SensorRxDropped: r.sensDrop, GeneratorTxDropped: r.genDrop, ReturnDropped: r.retDrop,
			RSTs: r.rsts, MachineCPUS: r.machineCPU.Seconds(), GeneratorCPUS: r.genCPU.Seconds(),
			AgentCPUS: r.agentCPU.Seconds(), AgentMaxRSSBytes: r.agentRSS, RSTsPerCPUSecond: perCPUSecond(r.rsts, r.machineCPU),
			Counters: r.counters,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
