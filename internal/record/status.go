package record

import (
	"slices"
	"strconv"
	"time"
)

// Status is a sensor's periodic status on the network of sensors: its
// version, a digest of its configuration (to tell sensors set up alike)
// and its components' counters.
type Status struct {
	Time         time.Time         `json:"ts"`
	Version      string            `json:"version"`
	ConfigDigest string            `json:"config_digest"`
	Counters     map[string]uint64 `json:"counters"`
}

// AppendJSON appends s as one JSON line (with its newline), the counters
// in the order of their names.
func (s *Status) AppendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = AppendTime(b, s.Time)
	b = append(b, `,"version":`...)
	b = AppendString(b, s.Version)
	b = append(b, `,"config_digest":`...)
	b = AppendString(b, s.ConfigDigest)
	b = append(b, `,"counters":{`...)
	names := make([]string, 0, len(s.Counters))
	for n := range s.Counters {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, n)
		b = append(b, ':')
		b = strconv.AppendUint(b, s.Counters[n], 10)
	}
	return append(b, "}}\n"...)
}
