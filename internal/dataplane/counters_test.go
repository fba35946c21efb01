package dataplane

import (
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"go.uber.org/zap/zapcore"
)

// ReadCounters reads the program's counters map (an array with a slot per
// possible CPU) and the per-CPU array that sensors before it pinned, which
// `mxsensor stats` may still find.
func TestReadCountersMapKinds(t *testing.T) {
	requireBPF(t)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}

	obj, err := Load(DefaultConfig())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer obj.Close()
	m := obj.CountersMap()
	if m.Type() != ebpf.Array || int(m.MaxEntries()) != cpus {
		t.Fatalf("counters map: %v with %d entries, want an array with %d (one per possible CPU)", m.Type(), m.MaxEntries(), cpus)
	}
	// The program leaves packets at 0 (a stale value here must not count):
	// it is the sum of the outcomes, anomalies and records not included.
	for cpu := range cpus {
		var v mxsensorMxsCounters
		v.C[CntPackets], v.C[CntPassNotIP], v.C[CntRSTSent] = 1000, uint64(cpu+1), 1
		v.C[CntRecords], v.C[CntAnomBadDoff], v.C[CntPassMalformed] = 1, 1, 1
		if err := m.Put(uint32(cpu), &v); err != nil {
			t.Fatal(err)
		}
	}
	total, per, err := obj.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != cpus || per[cpus-1][CntPackets] != uint64(cpus+2) {
		t.Errorf("per CPU: %d slots, last %v", len(per), per[len(per)-1])
	}
	if total[CntPackets] != uint64(cpus*(cpus+1)/2+2*cpus) || total[CntPassNotIP] != uint64(cpus*(cpus+1)/2) {
		t.Errorf("total: packets %d, pass_not_ip %d", total[CntPackets], total[CntPassNotIP])
	}

	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8 * uint32(NumCounters), MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	vals := make([]Counters, cpus)
	for cpu := range vals {
		vals[cpu][CntPackets], vals[cpu][CntRSTSent] = 2, 1
	}
	if err := old.Put(uint32(0), vals); err != nil {
		t.Fatal(err)
	}
	total, per, err = ReadCounters(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != cpus || total[CntPackets] != uint64(2*cpus) || total[CntRSTSent] != uint64(cpus) {
		t.Errorf("per-CPU array: %d slots, packets %d, rst_sent %d", len(per), total[CntPackets], total[CntRSTSent])
	}
}

func TestCountersLogFields(t *testing.T) {
	var c Counters
	c[CntPackets], c[CntAnomBadDoff] = 3, 1
	enc := zapcore.NewMapObjectEncoder()
	c.MarshalLogObject(enc)
	if want := map[string]any{"packets": uint64(3), "anomaly_bad_tcp_data_offset": uint64(1)}; !reflect.DeepEqual(enc.Fields, want) {
		t.Errorf("fields %v, want %v", enc.Fields, want)
	}
}
