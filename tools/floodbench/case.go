//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

const (
	caseNative  = "native"
	caseGeneric = "generic"
	caseKernel  = "kernel"
	// caseStore is native mode with the whole pipeline behind the ring:
	// grouping, fingerprints, association, the JSONL files (--out) and the
	// SQLite store (--db).
	caseStore = "store"
	// storeHeldMemory is the store case's --held-memory: about 13,000
	// attempts held by the grouper and 7,000 by the engine.
	storeHeldMemory = "16MiB"
)

// xdpMode is the --xdp-mode of a case's agent.
func xdpMode(kind string) string {
	if kind == caseStore {
		return caseNative
	}
	return kind
}

var (
	sensAddr = netip.MustParseAddr("10.88.0.1")
	genAddr  = netip.MustParseAddr("10.88.0.2")
	sensMAC  = net.HardwareAddr{0x02, 0x88, 0, 0, 0, 0x01}
	genMAC   = net.HardwareAddr{0x02, 0x88, 0, 0, 0, 0x02}
	// clients is where the flood's source addresses come from; the sensor
	// routes it through the generator.
	clients = netip.MustParsePrefix("10.99.0.0/16")
)

// result is what one case measured.
type result struct {
	sent       uint64
	elapsed    time.Duration
	genCPU     time.Duration // the generator's sending thread
	sensRx     uint64        // frames the sensor's veth end received
	sensDrop   uint64        // rx_dropped on the sensor's end
	genDrop    uint64        // tx_dropped on the generator's end
	retDrop    uint64        // return path: tx_dropped on the sensor's end plus rx_dropped on the generator's
	rsts       uint64        // frames the generator's veth end received
	machineCPU time.Duration // all CPUs, user+nice+system+irq+softirq
	agentCPU   time.Duration
	agentRSS   uint64            // the agent's peak resident memory (VmHWM), bytes
	counters   map[string]uint64 // nil for the kernel path
}

func runCase(ctx context.Context, cfg config, kind, bin, pinDir string) (res *result, err error) {
	lab, err := netlab.New("flb")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Close()) }()
	sens, err := lab.AddHost("sens")
	if err != nil {
		return nil, err
	}
	gen, err := lab.AddHost("gen")
	if err != nil {
		return nil, err
	}
	veth, err := lab.Link(sens, gen, netlab.LinkConfig{AName: "eth0", BName: "eth0",
		AAddrs: []netip.Prefix{netip.PrefixFrom(sensAddr, 24)},
		BAddrs: []netip.Prefix{netip.PrefixFrom(genAddr, 24)},
		AMAC:   sensMAC, BMAC: genMAC})
	if err != nil {
		return nil, err
	}
	// The sensor (or its kernel) answers many client addresses: route them
	// through the generator, whose MAC is fixed, so no ARP is needed.
	nl := sens.Handle()
	if err := nl.NeighAdd(&netlink.Neigh{LinkIndex: veth.AIndex, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
		IP: genAddr.AsSlice(), HardwareAddr: genMAC}); err != nil {
		return nil, fmt.Errorf("static neighbour: %w", err)
	}
	if err := nl.RouteAdd(&netlink.Route{LinkIndex: veth.AIndex,
		Dst: &net.IPNet{IP: clients.Addr().AsSlice(), Mask: net.CIDRMask(clients.Bits(), 32)},
		Gw:  genAddr.AsSlice()}); err != nil {
		return nil, fmt.Errorf("route to the clients: %w", err)
	}
	// The generator's end gets an XDP_PASS program in every case: native
	// XDP_TX on veth needs one on the peer, and the receive path of the
	// generator is then the same for all three cases.
	closePass, err := gen.AttachXDPPass(veth.BName)
	if err != nil {
		return nil, err
	}
	defer closePass()

	var agentPID int
	if kind != caseKernel {
		if err := os.Mkdir(pinDir, 0o700); err != nil {
			return nil, err
		}
		work := filepath.Dir(filepath.Dir(pinDir)) // the run's temporary directory, outside the bpffs
		ready := filepath.Join(work, "ready-"+kind)
		args := []string{"run", "--ready-file", ready, "--iface", "eth0", "--xdp-mode", xdpMode(kind),
			"--pin-dir", pinDir, "--events", "", "--db", "", "--metrics-listen", "", "--rst-rate", "0",
			"--local-addr", sensAddr.String(), "--log-level", "warn"}
		if kind == caseStore {
			// A held-memory budget the flood's distinct sources (up to
			// 65,000 attempts) exceed: the peak memory shows the bound.
			args = append(args, "--out", filepath.Join(work, "out-"+kind), "--db", filepath.Join(work, kind+".db"),
				"--held-memory", storeHeldMemory)
		}
		cmd := sens.Exec(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting the agent: %w", err)
		}
		// done is closed once the agent has exited, with its status in
		// werr: both the ready loop and the cleanup below may wait on it.
		var werr error
		done := make(chan struct{})
		go func() { werr = cmd.Wait(); close(done) }()
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
				if werr != nil && ctx.Err() == nil {
					err = errors.Join(err, fmt.Errorf("agent exit: %v\n%s", werr, &stderr))
				}
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				err = errors.Join(err, fmt.Errorf("agent did not stop on SIGTERM\n%s", &stderr))
			}
		}()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			select {
			case <-done:
				return nil, fmt.Errorf("agent exited before it was ready: %v\n%s", werr, &stderr)
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("agent not ready after 20s\n%s", &stderr)
			}
		}
		agentPID = cmd.Process.Pid
	}

	frames := synFrames(cfg.sources, genMAC, sensMAC, sensAddr)
	var fd = -1
	if err := gen.Do(func() error {
		var err error
		fd, err = packetSocket(veth.BIndex)
		return err
	}); err != nil {
		return nil, err
	}
	defer unix.Close(fd)

	// A short warm-up, not measured: page faults, first map entries.
	if _, err := floodOnThread(ctx, fd, frames, 10_000, time.Second); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(cfg.drain)

	res = &result{}
	sens0, err := linkStats(sens, "eth0")
	if err != nil {
		return nil, err
	}
	gen0, err := linkStats(gen, "eth0")
	if err != nil {
		return nil, err
	}
	var agent0, agent1 time.Duration
	if agentPID != 0 {
		if agent0, err = processCPU(agentPID); err != nil {
			return nil, err
		}
	}
	var st0 map[string]uint64
	if agentPID != 0 {
		if st0, err = agentStats(ctx, sens, bin, pinDir, xdpMode(kind)); err != nil {
			return nil, err
		}
	}
	cpu0, err := machineCPU()
	if err != nil {
		return nil, err
	}
	fr, err := floodOnThread(ctx, fd, frames, cfg.frames, cfg.duration)
	if err != nil {
		return nil, err
	}
	time.Sleep(cfg.drain)
	if kind == caseStore {
		// The pipeline may still work through what the ring held: its CPU
		// counts only once it is idle.
		if err := settle(ctx, agentPID, cfg.settle); err != nil {
			return nil, err
		}
	}
	cpu1, err := machineCPU()
	if err != nil {
		return nil, err
	}
	if agentPID != 0 {
		if agent1, err = processCPU(agentPID); err != nil {
			return nil, err
		}
		if res.agentRSS, err = peakRSS(agentPID); err != nil {
			return nil, err
		}
	}
	sens1, err := linkStats(sens, "eth0")
	if err != nil {
		return nil, err
	}
	gen1, err := linkStats(gen, "eth0")
	if err != nil {
		return nil, err
	}
	res.sent, res.elapsed, res.genCPU = fr.Sent, fr.Elapsed, fr.CPU
	res.machineCPU = cpu1 - cpu0
	res.agentCPU = agent1 - agent0
	res.sensRx = sens1.RxPackets - sens0.RxPackets
	res.sensDrop = sens1.RxDropped - sens0.RxDropped
	res.genDrop = gen1.TxDropped - gen0.TxDropped
	res.retDrop = sens1.TxDropped - sens0.TxDropped + gen1.RxDropped - gen0.RxDropped
	res.rsts = gen1.RxPackets - gen0.RxPackets

	if agentPID != 0 {
		st1, err := agentStats(ctx, sens, bin, pinDir, xdpMode(kind))
		if err != nil {
			return nil, err
		}
		res.counters = map[string]uint64{}
		for k, v := range st1 {
			res.counters[k] = v - st0[k]
		}
	}
	return res, nil
}

// agentStats returns the agent's kernel counters (summed over CPUs) from
// `mxsensor stats --json`, run in the sensor's namespace.
func agentStats(ctx context.Context, sens *netlab.Host, bin, pinDir, kind string) (map[string]uint64, error) {
	out, err := sens.Exec(ctx, bin, "stats", "--pin-dir", pinDir, "--iface", "eth0", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("mxsensor stats: %w", err)
	}
	var st struct {
		AttachMode string            `json:"attach_mode"`
		Counters   map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("mxsensor stats output %q: %w", out, err)
	}
	if st.AttachMode != kind {
		return nil, fmt.Errorf("agent attached in %q mode, want %q", st.AttachMode, kind)
	}
	return st.Counters, nil
}

// floodOnThread runs flood on a goroutine locked to its own OS thread, so
// that the thread's CPU time is the generator's alone.
func floodOnThread(ctx context.Context, fd int, frames [][]byte, n uint64, d time.Duration) (floodResult, error) {
	type out struct {
		r   floodResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := flood(ctx, fd, frames, n, d)
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}

func linkStats(h *netlab.Host, name string) (*netlink.LinkStatistics, error) {
	lk, err := h.Handle().LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", name, h.Name, err)
	}
	if lk.Attrs().Statistics == nil {
		return nil, fmt.Errorf("%s in %s: no statistics", name, h.Name)
	}
	return lk.Attrs().Statistics, nil
}
