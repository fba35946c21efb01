//go:build linux

package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// clientStats is what one client did and saw.
type clientStats struct {
	Deliveries int
	SYNs       int             // raw clients: SYNs sent
	RSTs       int             // raw clients: RSTs received
	Refused    int             // Linux clients: connect() refused
	Latency    []time.Duration // Linux clients: connect() to ECONNREFUSED
	Failures   []string        // unexpected outcomes
	// PerSensor counts the deliveries to each sensor.
	PerSensor []int
}

func (s *clientStats) fail(format string, args ...any) {
	if len(s.Failures) < 10 {
		s.Failures = append(s.Failures, fmt.Sprintf(format, args...))
	}
}

// deliverer makes one delivery: the connect() attempts of one message
// to a sensor, over both families.
type deliverer interface {
	deliver(ctx context.Context, to *sensorNode) error
	stats() *clientStats
	close() error
}

// traffic runs the clients' deliveries one at a time.
type traffic struct {
	cfg     Config
	order   []string // client names, kinds interleaved
	clients map[string]deliverer
	index   map[string]int // the clients' index (from 1)
	sensors []*sensorNode
}

func newTraffic(h *hosts, clients []Client, cfg Config) (*traffic, error) {
	t := &traffic{cfg: cfg, clients: map[string]deliverer{}, index: map[string]int{}, sensors: h.sensors}
	byKind := map[string][]string{}
	for _, c := range clients {
		host := h.clients[c.Name]
		var d deliverer
		switch c.Kind {
		case KindLinux:
			d = &linuxClient{c: c, host: host, timeout: cfg.DialTimeout}
		default:
			r, err := newRawClient(c, host, cfg.DialTimeout)
			if err != nil {
				t.close()
				return nil, err
			}
			d = r
		}
		d.stats().PerSensor = make([]int, len(h.sensors))
		t.clients[c.Name] = d
		t.index[c.Name] = c.index
		byKind[c.Kind] = append(byKind[c.Kind], c.Name)
	}
	// lin1, win1, mac1, lin2, ...: every kind early in each round.
	for i := 0; len(t.order) < len(clients); i++ {
		for _, k := range []string{KindLinux, KindWindows, KindMacOS} {
			if i < len(byKind[k]) {
				t.order = append(t.order, byKind[k][i])
			}
		}
	}
	return t, nil
}

// run makes deliveries, one client at a time with cfg.Gap between them,
// in rounds until cfg.Duration has passed. With several sensors, client n
// delivers to sensor n in the first round, to the next one in the next
// round, and so on. The first round, and with several sensors as many
// rounds as there are sensors, always complete, so that every client is
// seen (at every sensor). Only a system failure (not a misbehaving
// sensor, which is counted per client) ends it early.
func (t *traffic) run(ctx context.Context, log *zap.Logger) error {
	end := time.Now().Add(t.cfg.Duration)
	n := len(t.sensors)
	for round := 0; ; round++ {
		for _, name := range t.order {
			if ctx.Err() != nil || (round >= n && time.Now().After(end)) {
				return nil
			}
			k := (t.index[name] - 1 + round) % n
			d := t.clients[name]
			d.stats().PerSensor[k]++
			if err := d.deliver(ctx, t.sensors[k]); err != nil {
				return fmt.Errorf("lab: client %s: %w", name, err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(t.cfg.Gap):
			}
		}
		log.Debug("round done", zap.Int("round", round+1))
		if round+1 >= n && time.Now().After(end) {
			return nil
		}
	}
}

func (t *traffic) close() error {
	var errs []error
	for _, d := range t.clients {
		errs = append(errs, d.close())
	}
	return errors.Join(errs...)
}

// linuxClient connects with the real Linux TCP stack of its namespace: to
// the sensor's IPv6 address first, then, once refused, to its IPv4
// address, the order RFC 6724 gives a host with native IPv6.
type linuxClient struct {
	c       Client
	host    *netlab.Host
	timeout time.Duration
	st      clientStats
}

func (l *linuxClient) stats() *clientStats { return &l.st }
func (l *linuxClient) close() error        { return nil }

func (l *linuxClient) deliver(ctx context.Context, to *sensorNode) error {
	l.st.Deliveries++
	return l.host.Do(func() error {
		for _, dst := range []netip.Addr{to.ipv6, to.ipv4} {
			src := l.c.IPv4
			if dst.Is6() {
				src = l.c.IPv6
			}
			d := net.Dialer{Timeout: l.timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			start := time.Now()
			conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(dst, 25).String())
			el := time.Since(start)
			switch {
			case ctx.Err() != nil:
				return nil
			case err == nil:
				conn.Close()
				l.st.fail("connect to [%v]:25 was accepted: the sensor must never accept", dst)
			case errors.Is(err, syscall.ECONNREFUSED):
				l.st.Refused++
				l.st.Latency = append(l.st.Latency, el)
			default:
				l.st.fail("connect to [%v]:25: %v (want ECONNREFUSED, the sensor's RST)", dst, err)
			}
		}
		return nil
	})
}

// rawClient sends the SYNs of another OS's stack from a packet socket on
// its veth and waits for the sensor's RST after each one. Its namespace's
// kernel drops those RSTs (no socket), as RSTs are never answered.
type rawClient struct {
	c       Client
	fd      int
	ifindex int
	src     []byte // MAC
	timeout time.Duration
	rng     *rand.Rand
	port    uint16 // Windows: the shared ephemeral-port pool
	ipid    uint16 // Windows: per-host IPv4 ID counter
	tsBoot  time.Time
	tsOff   uint32
	st      clientStats
	buf     []byte
	windows bool
}

func newRawClient(c Client, h *netlab.Host, timeout time.Duration) (*rawClient, error) {
	seed := uint64(time.Now().UnixNano())
	r := &rawClient{c: c, fd: -1, src: clientMAC(c.index), timeout: timeout,
		rng: rand.New(rand.NewPCG(seed, uint64(c.index))), buf: make([]byte, 2048), windows: c.Kind == KindWindows}
	r.port = uint16(49152 + r.rng.IntN(8000))
	r.ipid = uint16(r.rng.Uint32())
	r.tsBoot = time.Now().Add(-time.Duration(1+r.rng.IntN(72)) * time.Hour)
	r.tsOff = r.rng.Uint32()
	// The socket belongs to the namespace it is created in.
	err := h.Do(func() error {
		idx, err := h.LinkIndex("eth0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: idx}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket: %w", err)
		}
		r.fd, r.ifindex = fd, idx
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: client %s: %w", c.Name, err)
	}
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *rawClient) stats() *clientStats { return &r.st }

func (r *rawClient) close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// deliver: Windows tries IPv6 with three SYNs on one port, each ~0.5 s
// after the RST to the previous one, then falls back to IPv4 on the next
// port of its shared pool ~0.5 s later, three SYNs again. macOS sends one
// SYN per family, IPv4 right after the IPv6 RST, from random ports.
func (r *rawClient) deliver(ctx context.Context, to *sensorNode) error {
	r.st.Deliveries++
	syns := 1
	if r.windows {
		syns = 3
		r.port += uint16(2 + r.rng.IntN(3))
		if r.port < 49152 || r.port > 65000 {
			r.port = 49152
		}
	}
	for fi, dst := range []netip.Addr{to.ipv6, to.ipv4} {
		port := r.port + uint16(fi)
		if !r.windows {
			port = uint16(49152 + r.rng.IntN(16384))
		}
		seq := r.rng.Uint32()
		flow := r.rng.Uint32()&0xfffff | 1
		for k := range syns {
			if err := r.send(to.mac, dst, port, seq, flow); err != nil {
				return err
			}
			if err := r.awaitRST(dst, port); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			if k+1 < syns {
				sleep(ctx, r.between(490, 520))
			}
		}
		if fi == 0 {
			if r.windows {
				sleep(ctx, r.between(480, 560))
			} else {
				sleep(ctx, time.Duration(100+r.rng.IntN(2900))*time.Microsecond)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (r *rawClient) between(loMs, hiMs int) time.Duration {
	return time.Duration(loMs)*time.Millisecond + time.Duration(r.rng.Int64N(int64(hiMs-loMs)*int64(time.Millisecond)))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// frame builds one SYN of the client's stack.
func (r *rawClient) frame(dstMAC []byte, dst netip.Addr, port uint16, seq, flow uint32) []byte {
	s := synframe.Spec{SrcMAC: r.src, DstMAC: dstMAC, Dst: dst, SrcPort: port, DstPort: 25, Seq: seq, DF: true}
	mss := uint16(1460)
	if dst.Is6() {
		s.Src, mss = r.c.IPv6, 1440
	} else {
		s.Src = r.c.IPv4
	}
	if r.windows {
		s.TTL, s.Window = 128, 64240
		s.TCPOptions = slices.Clone(synframe.WindowsOptions)
		binary.BigEndian.PutUint16(s.TCPOptions[2:], mss)
		if dst.Is4() {
			r.ipid++
			s.ID = r.ipid
		}
		return s.Build()
	}
	// macOS: one timestamp clock (ms) for the host, random IPv4 ID and
	// IPv6 flow label.
	s.TTL, s.Window = 64, 65535
	s.ID = uint16(r.rng.Uint32())
	if dst.Is6() {
		s.FlowLabel = flow
	}
	s.TCPOptions = MacOSOptions(mss, r.tsOff+uint32(time.Since(r.tsBoot).Milliseconds()))
	return s.Build()
}

// MacOSOptions is the SYN option layout of macOS: mss, nop, wscale 6, nop,
// nop, timestamps, sackOK, eol, eol.
func MacOSOptions(mss uint16, tsval uint32) []byte {
	b := binary.BigEndian.AppendUint16([]byte{2, 4}, mss)
	b = append(b, 1, 3, 3, 6, 1, 1, 8, 10)
	b = binary.BigEndian.AppendUint32(b, tsval)
	b = binary.BigEndian.AppendUint32(b, 0)
	return append(b, 4, 2, 0, 0)
}

func (r *rawClient) send(dstMAC []byte, dst netip.Addr, port uint16, seq, flow uint32) error {
	f := r.frame(dstMAC, dst, port, seq, flow)
	var mac [8]byte
	copy(mac[:], dstMAC)
	sa := &unix.SockaddrLinklayer{Ifindex: r.ifindex, Halen: 6, Addr: mac}
	if err := unix.Sendto(r.fd, f, 0, sa); err != nil {
		return fmt.Errorf("send SYN: %w", err)
	}
	r.st.SYNs++
	return nil
}

// awaitRST reads frames arriving on the veth until the sensor's RST for
// (dst, port) or the timeout; a missing RST is a failure of the sensor,
// counted, not an error.
func (r *rawClient) awaitRST(from netip.Addr, port uint16) error {
	deadline := time.Now().Add(r.timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			r.st.fail("no RST from [%v]:25 to port %d within %v", from, port, r.timeout)
			return nil
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		n, sa, err := unix.Recvfrom(r.fd, r.buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if isRST(r.buf[:n], from, port) {
			r.st.RSTs++
			return nil
		}
	}
}

// isRST reports whether frame is a TCP RST from [from]:25 to port.
func isRST(frame []byte, from netip.Addr, port uint16) bool {
	be := binary.BigEndian
	if len(frame) < 14 {
		return false
	}
	var tcp []byte
	var src netip.Addr
	switch et := be.Uint16(frame[12:]); {
	case et == 0x0800 && len(frame) >= 34:
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 6 || len(ip) < ihl+20 {
			return false
		}
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		tcp = ip[ihl:]
	case et == 0x86dd && len(frame) >= 14+40+20:
		ip := frame[14:]
		if ip[6] != 6 {
			return false
		}
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		tcp = ip[40:]
	default:
		return false
	}
	return src == from && be.Uint16(tcp[0:]) == 25 && be.Uint16(tcp[2:]) == port && tcp[13]&synframe.RST != 0
}
