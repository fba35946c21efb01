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

// LiveConfig is the live run: the sensor's program and pass-only each
// attached (native mode) to the receiving end of its own veth pair, and
// Frames copies of one frame sent into each pair at Rate frames per second
// in all, alternately, a burst at a time, so that whatever else the machine
// does hits both alike; Rounds times per frame.
type LiveConfig struct {
	Frames int // frames per program, frame and round
	Rate   int // frames per second, both pairs together
	Rounds int // the round of the median ratio is kept
}

// DefaultLiveConfig takes about 10 s for three frames.
func DefaultLiveConfig() LiveConfig { return LiveConfig{Frames: 20000, Rate: 100000, Rounds: 9} }

// LiveResult is one program on one frame in the live run.
type LiveResult struct {
	Program, Frame string
	// Runs is how many times the kernel ran the program in the round kept;
	// NsPerRun is that round's run time per run, from the kernel's own
	// statistics (BPF_ENABLE_STATS: run_time_ns / run_cnt).
	Runs     uint64
	NsPerRun float64
}

// Names of the programs the live run compares.
const (
	liveOurs = "mxsensor"
	liveBase = "pass-only"
)

// LiveBurst is the number of frames handed to the kernel per sendmmsg call:
// the receiving veth's NAPI poll then runs the program over a batch, as on a
// busy link, and the sender's system calls do not flush the TLB per frame.
const LiveBurst = 32

// MeasureLive runs the sensor's program and the pass-only baseline on the
// non-target frames over veth pairs in throw-away namespaces, and returns
// the kernel's own run time per run of each: no system call and no copy of
// the frame is inside the figure, unlike BPF_PROG_TEST_RUN's. The timing
// itself (two sched_clock reads per run) is inside both programs' figures
// alike. Needs root.
func MeasureLive(ctx context.Context, s *Set, frames []Frame, cfg LiveConfig) (res []LiveResult, err error) {
	if cfg.Frames < 1 || cfg.Rate < 1 || cfg.Rounds < 1 {
		return nil, fmt.Errorf("live run: frames, rate and rounds must be positive (%+v)", cfg)
	}
	var progs [2]Program
	for _, p := range s.Programs {
		switch p.Name {
		case liveOurs:
			progs[0] = p
		case liveBase:
			progs[1] = p
		}
	}
	if progs[0].Prog == nil || progs[1].Prog == nil {
		return nil, errors.New("live run: the set lacks the sensor's program or pass-only")
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
	var fds [2]int
	for i, p := range progs {
		// The receiver's MAC is not the frames' destination: once the
		// program has passed them, the kernel drops them at once
		// (PACKET_OTHERHOST).
		veth, err := lab.Link(rx, tx, netlab.LinkConfig{
			AMAC: net.HardwareAddr{0x02, 0x58, 0x44, 0x50, byte(i), 1}, BMAC: net.HardwareAddr{0x02, 0x58, 0x44, 0x50, byte(i), 2}})
		if err != nil {
			return nil, err
		}
		var l link.Link
		if err := rx.Do(func() (err error) {
			l, err = link.AttachXDP(link.XDPOptions{Program: p.Prog, Interface: veth.AIndex, Flags: link.XDPDriverMode})
			return err
		}); err != nil {
			return nil, fmt.Errorf("attaching %s: %w", p.Name, err)
		}
		defer func() { err = errors.Join(err, l.Close()) }()
		fds[i] = -1
		if err := tx.Do(func() (err error) { fds[i], err = sendSocket(veth.BIndex); return err }); err != nil {
			return nil, err
		}
		defer unix.Close(fds[i])
	}

	for _, f := range frames {
		if f.SYN {
			continue
		}
		var rounds [][2]LiveResult
		for range cfg.Rounds {
			r, err := liveRound(ctx, progs, fds, f, cfg)
			if err != nil {
				return nil, fmt.Errorf("live run on %s: %w", f.Name, err)
			}
			rounds = append(rounds, r)
		}
		sort.Slice(rounds, func(i, j int) bool {
			return rounds[i][0].NsPerRun*rounds[j][1].NsPerRun < rounds[j][0].NsPerRun*rounds[i][1].NsPerRun
		})
		res = append(res, rounds[len(rounds)/2][:]...)
	}
	return res, nil
}

// liveRound sends cfg.Frames copies of f to each program and returns their
// run time per run over them.
func liveRound(ctx context.Context, progs [2]Program, fds [2]int, f Frame, cfg LiveConfig) (r [2]LiveResult, err error) {
	var before [2]*ebpf.ProgramStats
	for i, p := range progs {
		if before[i], err = p.Prog.Stats(); err != nil {
			return r, fmt.Errorf("reading the statistics of %s: %w", p.Name, err)
		}
	}
	if err := sendPaced(ctx, fds, f.Data, cfg.Frames, cfg.Rate); err != nil {
		return r, err
	}
	// The last frames may still be in the receivers' queues: wait until the
	// programs have seen them all (a few stray frames, IPv6 router
	// solicitations, may come on top).
	deadline := time.Now().Add(2 * time.Second)
	for i, p := range progs {
		for {
			after, err := p.Prog.Stats()
			if err != nil {
				return r, fmt.Errorf("reading the statistics of %s: %w", p.Name, err)
			}
			runs := after.RunCount - before[i].RunCount
			if runs >= uint64(cfg.Frames) {
				ns := float64((after.Runtime - before[i].Runtime).Nanoseconds()) / float64(runs)
				r[i] = LiveResult{Program: p.Name, Frame: f.Name, Runs: runs, NsPerRun: ns}
				break
			}
			if time.Now().After(deadline) {
				return r, fmt.Errorf("%s ran %d times for %d frames sent", p.Name, runs, cfg.Frames)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return r, nil
}

// sendPaced sends n copies of frame on each of fds, LiveBurst at a time and
// the sockets in turn, holding to rate frames per second in all. A burst
// the device refuses (ENOBUFS) is sent again.
func sendPaced(ctx context.Context, fds [2]int, frame []byte, n, rate int) error {
	var iov [LiveBurst]unix.Iovec
	var msgs [LiveBurst]unix.Mmsghdr
	for i := range msgs {
		iov[i].Base = &frame[0]
		iov[i].SetLen(len(frame))
		msgs[i].Hdr.Iov, msgs[i].Hdr.Iovlen = &iov[i], 1
	}
	start := time.Now()
	var sent [2]int
	for turn := 0; sent[0] < n || sent[1] < n; turn++ {
		// The first burst after a pause finds the shared paths (veth, the
		// XDP dispatcher) coldest: each pair goes first in turn.
		for j := range fds {
			i := (j + turn) % len(fds)
			fd := fds[i]
			burst := min(LiveBurst, n-sent[i])
			if burst == 0 {
				continue
			}
			k, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(burst), 0, 0, 0)
			switch errno {
			case 0:
				sent[i] += int(k)
			case unix.ENOBUFS, unix.EAGAIN, unix.EINTR:
			default:
				return fmt.Errorf("sendmmsg: %w", errno)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// The time the frames sent so far are due at the rate.
		if wait := time.Until(start.Add(time.Duration(sent[0]+sent[1]) * time.Second / time.Duration(rate))); wait > 0 {
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
