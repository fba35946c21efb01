package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Origin AS numbers of the generated networks (from the 32-bit private-use
// range), and of the 6to4 and Teredo relays, whose addresses are announced
// by the relay operators and not by the host's provider.
const (
	firstASN  = 4200000000
	asn6to4   = 4290000001
	asnTeredo = 4290000002
)

// netIndex finds the generated network an address belongs to.
type netIndex struct {
	v4 map[[2]byte]int
	v6 map[[4]byte]int
}

func indexNetworks(p *population) netIndex {
	ix := netIndex{v4: map[[2]byte]int{}, v6: map[[4]byte]int{}}
	for i, n := range p.nets {
		ix.v4[n.v4] = i
		ix.v6[n.v6] = i
	}
	return ix
}

func (ix netIndex) of(a netip.Addr) (int, bool) {
	if a.Is4() {
		b := a.As4()
		i, ok := ix.v4[[2]byte{b[0], b[1]}]
		return i, ok
	}
	b := a.As16()
	i, ok := ix.v6[[4]byte{b[0], b[1], b[2], b[3]}]
	return i, ok
}

func netDomain(i int) string { return fmt.Sprintf("as%d-net.example", i+1) }

// writeASNTable writes the origin AS of every network's IPv4 /16 and IPv6
// /32 in the format of `mxsensor analyze --asn-table`.
func writeASNTable(path string, p *population) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# generated origin AS table: prefix<TAB>asn<TAB>name")
	fmt.Fprintf(w, "2002::/16\t%d\t6TO4-RELAY\n", asn6to4)
	fmt.Fprintf(w, "2001::/32\t%d\tTEREDO-RELAY\n", asnTeredo)
	for i, n := range p.nets {
		v6 := netip.AddrFrom16([16]byte{n.v6[0], n.v6[1], n.v6[2], n.v6[3]})
		fmt.Fprintf(w, "%d.%d.0.0/16\t%d\tNET-%d\n", n.v4[0], n.v4[1], firstASN+i, i+1)
		fmt.Fprintf(w, "%s/32\t%d\tNET-%d\n", v6, firstASN+i, i+1)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writePTRTable writes reverse names, "address name" per line, as a
// provider's DNS would answer them: mail servers name both their addresses
// alike, residential providers name most IPv4 addresses after the address
// and few IPv6 ones, and nobody names 6to4 or Teredo addresses. It draws
// from its own random stream so that the other outputs do not change.
func writePTRTable(path string, r rng, p *population) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	ix := indexNetworks(p)
	named := map[netip.Addr]bool{}
	put := func(a netip.Addr, name string) {
		if !named[a] {
			named[a] = true
			fmt.Fprintf(w, "%s %s\n", a, name)
		}
	}
	for _, h := range p.hosts {
		ni, ok := ix.of(h.v4)
		if !h.v4.IsValid() || !ok {
			ni, ok = -1, false
			for _, a := range h.v6 {
				if ni, ok = ix.of(a); ok {
					break
				}
			}
		}
		if !ok {
			continue
		}
		dom := netDomain(ni)
		switch h.role {
		case "legit", "misbehaving":
			// An MTA: one name, on both families (a few forget the IPv6 one).
			name := fmt.Sprintf("mx%d.mail%d.%s", h.id%7+1, h.id, dom)
			if h.v4.IsValid() {
				put(h.v4, name)
			}
			if r.chance(0.9) {
				for _, a := range h.v6 {
					put(a, name)
				}
			}
		default:
			if h.v4.IsValid() && r.chance(0.8) {
				b := h.v4.As4()
				put(h.v4, fmt.Sprintf("dyn-%d-%d-%d-%d.%s", b[0], b[1], b[2], b[3], dom))
			}
			if h.addrType == "6to4" || h.addrType == "teredo" || !r.chance(0.3) {
				continue
			}
			for _, a := range h.v6 {
				b := a.As16()
				put(a, fmt.Sprintf("dyn6-%s.%s", strings.TrimLeft(fmt.Sprintf("%x", binary.BigEndian.Uint64(b[8:])), "0"), dom))
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
