package main

import "encoding/binary"

// Option layouts of the SYNs the modelled stacks send.
type layout uint8

const (
	layoutNone    layout = iota // no options (masscan)
	layoutMSS                   // mss (zmap)
	layoutWindows               // mss,nop,ws,nop,nop,sok
	layoutLinux                 // mss,sok,ts,nop,ws
	layoutMac                   // mss,nop,ws,nop,nop,ts,sok,eol+1
	layoutBSD                   // mss,nop,ws,sok,ts
)

// portPolicy is how a stack picks ephemeral source ports.
type portPolicy uint8

const (
	portShared    portPolicy = iota // one sequential pool for both families (Windows)
	portPerFamily                   // per-family sequences in small even steps (Linux)
	portRandom                      // random per connect (macOS, FreeBSD, scanners)
)

// stack models one OS's TCP/IP behaviour as seen in its SYNs.
type stack struct {
	name    string // "os" in the truth
	class   string // "os_class" in the truth
	layout  layout
	wscale  uint8
	win4    uint16 // fixed window; 0 means winMul4*MSS
	win6    uint16
	winMul4 uint16
	winMul6 uint16
	ittl    uint8
	syns    int  // SYNs per connect() against a RST-ing server
	ts      bool // sends TCP timestamps
	ports   portPolicy
	portLo  uint16
	portHi  uint16
	flow    bool // random IPv6 flow label per connection
	ipidSeq bool // IPv4 ID from a per-host counter (else random)
	df      bool
}

var (
	stWin7 = stack{name: "Windows 7", class: "Windows", layout: layoutWindows, wscale: 8, win4: 8192, win6: 8192,
		ittl: 128, syns: 3, ports: portShared, portLo: 49152, portHi: 65535, ipidSeq: true, df: true}
	stWin10 = stack{name: "Windows 10", class: "Windows", layout: layoutWindows, wscale: 8, win4: 64240, win6: 64240,
		ittl: 128, syns: 3, ports: portShared, portLo: 49152, portHi: 65535, ipidSeq: true, df: true}
	stWin11 = stack{name: "Windows 11", class: "Windows", layout: layoutWindows, wscale: 8, win4: 64240, win6: 64240,
		ittl: 128, syns: 3, ports: portShared, portLo: 49152, portHi: 65535, ipidSeq: true, df: true}
	stLinuxOld = stack{name: "Linux 3.x", class: "Linux", layout: layoutLinux, wscale: 7, winMul4: 20, winMul6: 20,
		ittl: 64, syns: 1, ts: true, ports: portPerFamily, portLo: 32768, portHi: 60999, df: true}
	stLinuxNew = stack{name: "Linux 5.x", class: "Linux", layout: layoutLinux, wscale: 7, winMul4: 44, winMul6: 45,
		ittl: 64, syns: 1, ts: true, ports: portPerFamily, portLo: 32768, portHi: 60999, flow: true, df: true}
	stMac = stack{name: "macOS", class: "macOS", layout: layoutMac, wscale: 6, win4: 65535, win6: 65535,
		ittl: 64, syns: 1, ts: true, ports: portRandom, portLo: 49152, portHi: 65535, flow: true, df: true}
	stFreeBSD = stack{name: "FreeBSD", class: "FreeBSD", layout: layoutBSD, wscale: 6, win4: 65535, win6: 65535,
		ittl: 64, syns: 1, ts: true, ports: portRandom, portLo: 10000, portHi: 65535, flow: true, df: true}
	stZmap = stack{name: "zmap", class: "Scanner", layout: layoutMSS, win4: 65535, win6: 65535,
		ittl: 255, syns: 1, ports: portRandom, portLo: 32768, portHi: 61000}
	stMasscan = stack{name: "masscan", class: "Scanner", layout: layoutNone, win4: 1024, win6: 1024,
		ittl: 255, syns: 1, ports: portRandom, portLo: 40000, portHi: 65535}
)

// window is the SYN's window for the given MSS and family.
func (s *stack) window(mss uint16, v6 bool) uint16 {
	if v6 {
		if s.win6 != 0 {
			return s.win6
		}
		return uint16(min(65535, int(s.winMul6)*int(mss)))
	}
	if s.win4 != 0 {
		return s.win4
	}
	return uint16(min(65535, int(s.winMul4)*int(mss)))
}

// options appends the stack's SYN options to dst.
func (s *stack) options(dst []byte, mss uint16, wscale uint8, tsval uint32) []byte {
	be := binary.BigEndian
	appMSS := func(b []byte) []byte { return be.AppendUint16(append(b, 2, 4), mss) }
	appTS := func(b []byte) []byte { return be.AppendUint32(be.AppendUint32(append(b, 8, 10), tsval), 0) }
	switch s.layout {
	case layoutMSS:
		dst = appMSS(dst)
	case layoutWindows:
		dst = appMSS(dst)
		dst = append(dst, 1, 3, 3, wscale, 1, 1, 4, 2)
	case layoutLinux:
		dst = appMSS(dst)
		dst = append(dst, 4, 2)
		dst = appTS(dst)
		dst = append(dst, 1, 3, 3, wscale)
	case layoutMac:
		dst = appMSS(dst)
		dst = append(dst, 1, 3, 3, wscale, 1, 1)
		dst = appTS(dst)
		dst = append(dst, 4, 2, 0, 0)
	case layoutBSD:
		dst = appMSS(dst)
		dst = append(dst, 1, 3, 3, wscale, 4, 2)
		dst = appTS(dst)
	}
	return dst
}
