//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/synframe"
)

// batchSize is the number of frames handed to the kernel per sendmmsg call.
const batchSize = 64

// synFrames returns n distinct IPv4 SYN frames to dst:25 from n different
// client addresses in 10.99.0.0/16 and source ports, so the flood looks like
// many clients (and a per-source rate limiter would see many sources).
func synFrames(n int, srcMAC, dstMAC net.HardwareAddr, dst netip.Addr) [][]byte {
	opts := []byte{
		2, 4, 0x05, 0xb4, // MSS 1460
		4, 2, // SACK permitted
		1, 3, 3, 7, // NOP, window scale 7
	}
	frames := make([][]byte, n)
	for i := range n {
		host := uint16(i%65000) + 256 // avoid 10.99.0.x
		src := netip.AddrFrom4([4]byte{10, 99, byte(host >> 8), byte(host)})
		frames[i] = synframe.Spec{
			SrcMAC:     srcMAC,
			DstMAC:     dstMAC,
			Src:        src,
			Dst:        dst,
			ID:         uint16(i * 7),
			DF:         true,
			SrcPort:    uint16(1024 + (i*131)%60000),
			DstPort:    25,
			Seq:        uint32(i)*2654435761 + 1,
			Window:     64240,
			TCPOptions: opts,
		}.Build()
	}
	return frames
}

// floodResult is what the generator saw of its own work.
type floodResult struct {
	Sent    uint64        // frames the kernel accepted
	Elapsed time.Duration // from the first to the last send
	CPU     time.Duration // the sending thread's user+system time
}

// flood sends frames (cycling through them) on the AF_PACKET socket fd until
// maxFrames are sent, maxTime has passed or ctx is done. It must run on a
// locked OS thread: its CPU time is taken with RUSAGE_THREAD.
func flood(ctx context.Context, fd int, frames [][]byte, maxFrames uint64, maxTime time.Duration) (floodResult, error) {
	var res floodResult
	iovs := make([]unix.Iovec, batchSize)
	hdrs := make([]unix.Mmsghdr, batchSize)
	for i := range hdrs {
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.Iovlen = 1
	}
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru0); err != nil {
		return res, err
	}
	start := time.Now()
	deadline := start.Add(maxTime)
	next := 0
	var calls uint64
	for res.Sent < maxFrames {
		n := batchSize
		if left := maxFrames - res.Sent; left < uint64(n) {
			n = int(left)
		}
		for i := range n {
			f := frames[next]
			next++
			if next == len(frames) {
				next = 0
			}
			iovs[i].Base = &f[0]
			iovs[i].SetLen(len(f))
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), 0, 0, 0)
		switch errno {
		case 0:
			res.Sent += uint64(r)
			if int(r) < n {
				// Rewind the frames that were not sent: the sequence of
				// distinct sources stays intact.
				next = (next - (n - int(r)) + len(frames)) % len(frames)
			}
		case syscall.ENOBUFS, syscall.EAGAIN, syscall.EINTR:
			next = (next - n + len(frames)) % len(frames)
		default:
			return res, fmt.Errorf("sendmmsg: %w", errno)
		}
		calls++
		if calls%64 == 0 {
			if time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
		}
	}
	res.Elapsed = time.Since(start)
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru1); err != nil {
		return res, err
	}
	res.CPU = tvDur(ru1.Utime) - tvDur(ru0.Utime) + tvDur(ru1.Stime) - tvDur(ru0.Stime)
	return res, ctx.Err()
}

func tvDur(tv unix.Timeval) time.Duration {
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

// packetSocket opens a raw AF_PACKET socket bound to ifindex for sending
// only (protocol 0: it receives nothing), bypassing the qdisc.
func packetSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	// Protocol 0 in bind: bound to the interface, subscribed to no frames.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: 0}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind AF_PACKET socket: %w", err)
	}
	return fd, nil
}
