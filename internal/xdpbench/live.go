//go:build linux

package xdpbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// LiveConfig is the live run: every program in turn attached (native mode)
// to the receiving end of a veth pair, and Frames copies of one frame sent
// into it at Rate frames per second, Rounds times per program and frame.
type LiveConfig struct {
	Frames int // frames per program, frame and round
	Rate   int // frames per second
	Rounds int // the median over rounds is kept
}

// DefaultLiveConfig takes about 8 s for two programs and three frames.
func DefaultLiveConfig() LiveConfig { return LiveConfig{Frames: 20000, Rate: 100000, Rounds: 7} }

// LiveResult is one program on one frame in the live run.
type LiveResult struct {
	Program, Frame string
	// Runs is how many times the kernel ran the program in the median
	// round; NsPerRun is that round's run time per run, from the kernel's
	// own statistics (BPF_ENABLE_STATS: run_time_ns / run_cnt).
	Runs     uint64
	NsPerRun float64
}

// Names of the programs the live run compares.
const (
	liveOurs = "mxsensor"
	liveBase = "pass-only"
)

// liveBurst is the number of frames handed to the kernel per sendmmsg call:
// the receiving veth's NAPI poll then runs the program over a batch, as on a
// busy link, and the sender's system calls do not flush the TLB per frame.
const liveBurst = 32

// MeasureLive runs the sensor's program and the pass-only baseline on the
// non-target frames over a veth pair in throw-away namespaces, and returns
// the kernel's own run time per run of each: no system call and no copy of
// the frame is inside the figure, unlike BPF_PROG_TEST_RUN's. The timing
// itself (two sched_clock reads per run) is inside both programs' figures
// alike. Needs root.
func MeasureLive(ctx context.Context, s *Set, frames []Frame, cfg LiveConfig) (res []LiveResult, err error) {
	if cfg.Frames < 1 || cfg.Rate < 1 || cfg.Rounds < 1 {
		return nil, fmt.Errorf("live run: frames, rate and rounds must be positive (%+v)", cfg)
	}
	var progs []Program
	for _, p := range s.Programs {
		if p.Name == liveOurs || p.Name == liveBase {
			progs = append(progs, p)
		}
	}
	if len(progs) != 2 {
		return nil, errors.New("live run: the set lacks the sensor's program or pass-only")
	}
	var targets []Frame
	for _, f := range frames {
		if !f.SYN {
			targets = append(targets, f)
		}
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	defer func() { err = errors.Join(err, stats.Close()) }()

	lab, err := netlab.New("xdb")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Close()) }()
	rx, err := lab.AddHost("rx")
	if err != nil {
		return nil, err
	}
	tx, err := lab.AddHost("tx")
	if err != nil {
		return nil, err
	}
	// The receiver's MAC is not the frames' destination: once the program
	// has passed them, the kernel drops them at once (PACKET_OTHERHOST).
	veth, err := lab.Link(rx, tx, netlab.LinkConfig{AName: "eth0", BName: "eth0",
		AMAC: net.HardwareAddr{0x02, 0x58, 0x44, 0x50, 0, 1}, BMAC: net.HardwareAddr{0x02, 0x58, 0x44, 0x50, 0, 2}})
	if err != nil {
		return nil, err
	}
	fd := -1
	if err := tx.Do(func() (err error) { fd, err = sendSocket(veth.BIndex); return err }); err != nil {
		return nil, err
	}
	defer unix.Close(fd)

	type key struct{ p, f int }
	rounds := map[key][]LiveResult{}
	for range cfg.Rounds {
		for fi, f := range targets {
			for pi, p := range progs {
				r, err := liveRound(ctx, rx, veth.AIndex, fd, p, f, cfg)
				if err != nil {
					return nil, fmt.Errorf("live run of %s on %s: %w", p.Name, f.Name, err)
				}
				rounds[key{pi, fi}] = append(rounds[key{pi, fi}], r)
			}
		}
	}
	for pi := range progs {
		for fi := range targets {
			rs := rounds[key{pi, fi}]
			sort.Slice(rs, func(i, j int) bool { return rs[i].NsPerRun < rs[j].NsPerRun })
			res = append(res, rs[len(rs)/2])
		}
	}
	return res, nil
}

// liveRound attaches p to the receiver, sends cfg.Frames copies of f and
// returns p's run time per run over them.
func liveRound(ctx context.Context, rx *netlab.Host, ifindex, fd int, p Program, f Frame, cfg LiveConfig) (r LiveResult, err error) {
	var l link.Link
	if err := rx.Do(func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: p.Prog, Interface: ifindex, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		return r, fmt.Errorf("attaching: %w", err)
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	before, err := p.Prog.Stats()
	if err != nil {
		return r, fmt.Errorf("reading the program's statistics: %w", err)
	}
	if err := sendPaced(ctx, fd, f.Data, cfg.Frames, cfg.Rate); err != nil {
		return r, err
	}
	// The last frames may still be in the receiver's queue: wait until the
	// program has seen them all (a few stray frames, IPv6 router
	// solicitations, may come on top).
	want := before.RunCount + uint64(cfg.Frames)
	deadline := time.Now().Add(2 * time.Second)
	for {
		after, err := p.Prog.Stats()
		if err != nil {
			return r, fmt.Errorf("reading the program's statistics: %w", err)
		}
		if after.RunCount >= want {
			runs := after.RunCount - before.RunCount
			ns := float64((after.Runtime - before.Runtime).Nanoseconds()) / float64(runs)
			return LiveResult{Program: p.Name, Frame: f.Name, Runs: runs, NsPerRun: ns}, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("the program ran %d times for %d frames sent", after.RunCount-before.RunCount, cfg.Frames)
		}
		time.Sleep(time.Millisecond)
	}
}

// sendPaced sends n copies of frame on fd, liveBurst at a time, holding to
// rate frames per second. A burst the device refuses (ENOBUFS) is sent again.
func sendPaced(ctx context.Context, fd int, frame []byte, n, rate int) error {
	var iov [liveBurst]unix.Iovec
	var msgs [liveBurst]unix.Mmsghdr
	for i := range msgs {
		iov[i].Base = &frame[0]
		iov[i].SetLen(len(frame))
		msgs[i].Hdr.Iov, msgs[i].Hdr.Iovlen = &iov[i], 1
	}
	start := time.Now()
	for sent := 0; sent < n; {
		burst := min(liveBurst, n-sent)
		k, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(burst), 0, 0, 0)
		if errno != 0 && errno != unix.ENOBUFS && errno != unix.EAGAIN && errno != unix.EINTR {
			return fmt.Errorf("sendmmsg: %w", errno)
		}
		if errno == 0 {
			sent += int(k)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The time the frames sent so far are due at the rate.
		if wait := time.Until(start.Add(time.Duration(sent) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
	}
	return nil
}

// sendSocket returns an AF_PACKET socket that sends on ifindex, past the
// qdisc, and receives nothing (protocol 0).
func sendSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening an AF_PACKET socket: %w", err)
	}
	err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex})
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("setting up the AF_PACKET socket: %w", err)
	}
	return fd, nil
}

// LiveRows compares, for each frame of the live run, the sensor's program
// with pass-only: the ratio against the non-target bar, and the
// difference, which is the program's own cost without the timing's.
func LiveRows(rs []LiveResult) []LiveRow {
	base := map[string]float64{}
	for _, r := range rs {
		if r.Program == liveBase {
			base[r.Frame] = r.NsPerRun
		}
	}
	var rows []LiveRow
	for _, r := range rs {
		if r.Program != liveOurs {
			continue
		}
		row := LiveRow{Row: Row{Frame: r.Frame, Ours: r.NsPerRun, Baseline: base[r.Frame], BaselineName: liveBase,
			Bar: NonTargetBar}}
		if row.Baseline > 0 {
			row.Ratio = row.Ours / row.Baseline
			row.ExtraNs = row.Ours - row.Baseline
		}
		row.Met = row.Ratio > 0 && row.Ratio <= row.Bar
		rows = append(rows, row)
	}
	return rows
}

// LiveRow is a Row of the live run, with the difference in ns.
type LiveRow struct {
	Row
	ExtraNs float64
}
