package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// diffFrames is the number of frames TestDifferential feeds both parsers;
// MXS_DIFF_FRAMES overrides it (the issue asks for at least 100,000 per CI run).
const diffFrames = 300_000

// differ runs frames through the kernel program and the Go reference and
// reports any disagreement in verdict, record or counters.
type differ struct {
	t     testing.TB
	obj   *Objects
	ring  *RingReader
	ref   *Reference
	out   []byte
	want  Counters // what the reference says the counters must have become
	start Counters
	n     int
	// aborted counts the frames the kernel answered XDP_ABORTED (each also a
	// disagreement).
	aborted int
}

func newDiffer(t testing.TB, cfg Config) *differ {
	requireBPF(t)
	obj, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewRingReader(obj.Events())
	if err != nil {
		obj.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { ring.Close(); obj.Close() })
	start, _, err := obj.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	ref := NewReference(cfg)
	ref.IfIdx = 1
	return &differ{t: t, obj: obj, ring: ring, ref: ref, out: make([]byte, 16384), start: start}
}

// check runs one frame; it returns false (after reporting) on a disagreement.
// A record the kernel wrote for a frame they disagree on is drained, so that
// the next frames are judged on their own (one disagreement, not a cascade).
func (d *differ) check(frame []byte) bool {
	if d.checkOne(frame) {
		return true
	}
	for d.ring.Pending() > 0 {
		if _, err := d.ring.Next(); err != nil {
			break
		}
	}
	return false
}

func (d *differ) checkOne(frame []byte) bool {
	t := d.t
	t.Helper()
	if len(frame) < 14 || len(frame) > 3000 {
		return true // BPF_PROG_TEST_RUN refuses these sizes
	}
	opts := &ebpf.RunOptions{Data: frame, DataOut: d.out}
	ret, err := d.obj.Program().Run(opts)
	if err != nil {
		t.Fatalf("Program.Run(% x): %v", frame, err)
	}
	d.n++
	var want Record
	res := d.ref.Run(frame, 0, &want)
	d.want[CntPackets]++
	d.want[res.Outcome]++
	if res.Anomaly != CounterNone {
		d.want[res.Anomaly]++
	}
	if res.Matched {
		d.want[CntSynMatched]++
		d.want[CntRecords]++
	}
	got := Verdict(ret)
	if got == XDPAborted {
		d.aborted++
		t.Errorf("XDP_ABORTED for frame % x", frame)
		return false
	}
	if got != res.Verdict {
		t.Errorf("verdict: kernel %v, reference %v (%v/%v) for frame\n% x", got, res.Verdict, res.Outcome, res.Anomaly, frame)
		return false
	}
	pending := d.ring.Pending()
	if res.Matched != (pending > 0) {
		t.Errorf("record: kernel pending %d bytes, reference matched=%v for frame\n% x", pending, res.Matched, frame)
		return false
	}
	if !res.Matched {
		if got == XDPPass && string(opts.DataOut) != string(frame) {
			t.Errorf("passed frame modified:\n% x\n% x", frame, opts.DataOut)
			return false
		}
		return true
	}
	rec, err := d.ring.Next()
	if err != nil {
		t.Fatalf("ring: %v", err)
	}
	want.TsNs = rec.TsNs
	if *rec != want {
		t.Errorf("record mismatch for frame % x:\nkernel    %+v\nreference %+v", frame, *rec, want)
		return false
	}
	if got == XDPTX && !validReply(rec, opts.DataOut) {
		t.Errorf("bad reply % x for frame % x", opts.DataOut, frame)
		return false
	}
	return true
}

// finish compares the kernel counters with the reference's tally.
func (d *differ) finish() {
	end, _, err := d.obj.ReadCounters()
	if err != nil {
		d.t.Fatal(err)
	}
	for i := range end {
		if end[i]-d.start[i] != d.want[i] {
			d.t.Errorf("counter %v: kernel %d, reference %d", Counter(i), end[i]-d.start[i], d.want[i])
		}
	}
}

// validReply checks a RST reply against the record it answers.
func validReply(rec *Record, out []byte) bool {
	be := binary.BigEndian
	l2 := 14
	if rec.VlanOuter != 0 || be.Uint16(out[12:]) == 0x8100 || be.Uint16(out[12:]) == 0x88a8 {
		for l2 < 22 && (be.Uint16(out[l2-2:]) == 0x8100 || be.Uint16(out[l2-2:]) == 0x88a8) {
			l2 += 4
		}
	}
	var src, dst netip.Addr
	var tcp []byte
	if rec.Family == 4 {
		if len(out) != l2+40 || synframe.Checksum(out[l2:l2+20]) != 0 {
			return false
		}
		src, dst = netip.AddrFrom4([4]byte(out[l2+12:])), netip.AddrFrom4([4]byte(out[l2+16:]))
		tcp = out[l2+20:]
	} else {
		if len(out) != l2+60 {
			return false
		}
		src, dst = netip.AddrFrom16([16]byte(out[l2+8:])), netip.AddrFrom16([16]byte(out[l2+24:]))
		tcp = out[l2+40:]
	}
	return synframe.Checksum(synframe.PseudoHeader(src, dst, 6, 20), tcp) == 0 &&
		be.Uint16(tcp) == rec.Dport && be.Uint16(tcp[2:]) == rec.Sport &&
		be.Uint32(tcp[8:]) == ReplyAck(rec) && tcp[13] == synframe.RST|synframe.ACK
}

// mutate returns a random variation of seed: byte flips, header-field
// pokes, cuts and extensions.
func mutate(r *rand.Rand, seed []byte) []byte {
	f := append([]byte(nil), seed...)
	for k := r.IntN(4); k >= 0; k-- {
		switch r.IntN(8) {
		case 0, 1: // flip a byte in the headers
			if len(f) > 0 {
				f[r.IntN(min(len(f), 120))] ^= byte(1 << r.IntN(8))
			}
		case 2: // random byte anywhere
			if len(f) > 0 {
				f[r.IntN(len(f))] = byte(r.UintN(256))
			}
		case 3: // cut
			if len(f) > 1 {
				f = f[:r.IntN(len(f))]
			}
		case 4: // extend
			extra := make([]byte, r.IntN(64))
			for i := range extra {
				extra[i] = byte(r.UintN(256))
			}
			f = append(f, extra...)
		case 5: // poke a header-length-ish field with an extreme value
			if len(f) > 60 {
				i := 12 + r.IntN(48)
				f[i] = []byte{0, 0xff, 0x0f, 0xf0, 0x45, 0x46, 0x4f, 0x60, 0x50, 0xf0, 2, 0x12}[r.IntN(12)]
			}
		case 6: // set a flags byte to SYN-ish values at a plausible TCP offset
			if len(f) > 60 {
				f[r.IntN(len(f)-20)+13] = []byte{0x02, 0x12, 0x06, 0xc2, 0x03}[r.IntN(5)]
			}
		case 7: // swap in a port 25
			if len(f) > 40 {
				i := 14 + r.IntN(len(f)-16)
				f[i], f[i+1] = 0, 25
			}
		}
	}
	return f
}

func randomFrame(r *rand.Rand) []byte {
	f := make([]byte, 14+r.IntN(200))
	for i := range f {
		f[i] = byte(r.UintN(256))
	}
	// Give many frames an IP ethertype so they get past L2.
	switch r.IntN(4) {
	case 0:
		f[12], f[13] = 0x08, 0x00
	case 1:
		f[12], f[13] = 0x86, 0xdd
	case 2:
		f[12], f[13] = 0x81, 0x00
	}
	return f
}

// diffFrame is the i-th frame of a run: the seeds first, then one random
// frame in ten and mutated seeds.
func diffFrame(r *rand.Rand, seeds [][]byte, i int) []byte {
	switch {
	case i < len(seeds):
		return seeds[i]
	case r.IntN(10) == 0:
		return randomFrame(r)
	}
	return mutate(r, seeds[r.IntN(len(seeds))])
}

func diffSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range progCases() {
		seeds = append(seeds, patch(tc.name, tc.spec.Build()))
	}
	seeds = append(seeds,
		syn4(func(s *synframe.Spec) { s.DstPort = 587 }).Build(),
		syn4(func(s *synframe.Spec) { s.Dst = netip.MustParseAddr("198.51.100.26") }).Build(),
		syn6(func(s *synframe.Spec) { s.DstPort = 587; s.Ext = []synframe.ExtHeader{rt0} }).Build(),
	)
	return seeds
}

func diffConfigs() []Config {
	a := DefaultConfig()
	a.RateLimit = 0
	b := a
	b.Ports = []uint16{25, 587}
	b.LocalAddrs = []netip.Addr{v4dst, v6dst}
	b.ReplyTTL = 255
	c := a
	c.Mode = ModeObserve
	return []Config{a, b, c}
}

// TestDifferential feeds the kernel program and the Go reference the same
// random and mutated frames and requires identical verdicts, records and
// counters.
func TestDifferential(t *testing.T) {
	total := diffFrames
	if v, err := strconv.Atoi(os.Getenv("MXS_DIFF_FRAMES")); err == nil && v > 0 {
		total = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("MXS_DIFF_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (MXS_DIFF_SEED=%d reproduces), %d frames", seed, seed, total)
	r := rand.New(rand.NewPCG(seed, 0x6d78))
	seeds := diffSeeds()
	cfgs := diffConfigs()
	per := total / len(cfgs)
	ran := 0
	for ci, cfg := range cfgs {
		d := newDiffer(t, cfg)
		failures := 0
		for i := 0; i < per && failures < 10; i++ {
			if !d.check(diffFrame(r, seeds, i)) {
				failures++
			}
		}
		d.finish()
		ran += d.n
		t.Logf("config %d: %d frames, kernel counters: %s", ci, d.n, nonZero(d.want))
	}
	if ran < total*9/10 {
		t.Errorf("only %d frames were runnable", ran)
	}
}

// FuzzDifferential is the coverage-guided version (make fuzz); under plain
// `go test` it runs its seed corpus.
func FuzzDifferential(f *testing.F) {
	for _, s := range diffSeeds() {
		f.Add(s)
	}
	d := newDiffer(f, diffConfigs()[1])
	f.Fuzz(func(t *testing.T, frame []byte) {
		d.t = t
		if !d.check(frame) {
			t.FailNow()
		}
	})
}

// FuzzReference: the Go parser never panics and never matches a frame the
// kernel could not have matched (too short for the headers it claims).
func FuzzReference(f *testing.F) {
	for _, s := range diffSeeds() {
		f.Add(s)
	}
	ref := NewReference(diffConfigs()[1])
	f.Fuzz(func(t *testing.T, frame []byte) {
		var rec Record
		res := ref.Run(frame, 0, &rec)
		if res.Matched && len(frame) < 14+20+20 {
			t.Fatalf("matched a %d-byte frame", len(frame))
		}
	})
}
