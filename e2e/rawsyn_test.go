//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// windowsRetry is the gap between a Windows stack's SYNs on one source port
// after each RST (KB 175523: ~0.5 s base timeout; three SYNs in all).
const (
	windowsRetry = 500 * time.Millisecond
	windowsSYNs  = 3
)

// sendWindowsSYNs sends from h's eth0, through a raw packet socket, what a
// dual-stack Windows host's connect() to the sensor looks like on the wire
// when every SYN is answered with a RST: three SYNs on one source port to
// the IPv6 address (RFC 6724: native IPv6 first), then three to the IPv4
// address from the next port of the pool both families share. The frames
// carry the Windows 10/11 option layout, TTL 128 and window 64240.
func sendWindowsSYNs(h *netlab.Host, s sender, dstMAC net.HardwareAddr) error {
	var fd, idx int
	var srcMAC net.HardwareAddr
	// The socket belongs to the namespace it is created in; sending from
	// another thread later is fine.
	err := h.Do(func() error {
		var err error
		if idx, err = h.LinkIndex("eth0"); err != nil {
			return err
		}
		l, err := h.Handle().LinkByIndex(idx)
		if err != nil {
			return err
		}
		srcMAC = l.Attrs().HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // send only
		return err
	})
	if err != nil {
		return fmt.Errorf("raw socket in %s: %w", h.Name, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: idx, Halen: 6}
	copy(to.Addr[:], dstMAC)

	port := uint16(49152 + rand.IntN(10000))
	ipid := uint16(rand.Uint32())
	for i, dst := range []netip.Addr{sensorV6, sensorV4} {
		if i > 0 {
			time.Sleep(windowsRetry)
		}
		src, mss := s.v6, uint16(1440)
		if dst.Is4() {
			src, mss = s.v4, 1460
		}
		seq := rand.Uint32()
		for n := range windowsSYNs {
			if n > 0 {
				time.Sleep(windowsRetry)
			}
			spec := synframe.Spec{SrcMAC: srcMAC, DstMAC: dstMAC, Src: src, Dst: dst, SrcPort: port, DstPort: 25,
				Seq: seq, DF: true, TTL: 128, Window: 64240, TCPOptions: slices.Clone(synframe.WindowsOptions)}
			binary.BigEndian.PutUint16(spec.TCPOptions[2:], mss)
			if dst.Is4() {
				ipid++
				spec.ID = ipid
			}
			if err := unix.Sendto(fd, spec.Build(), 0, to); err != nil {
				return fmt.Errorf("send SYN %v -> %v: %w", src, dst, err)
			}
		}
		port++ // Windows: one ephemeral pool for both families
	}
	return nil
}
