package evaluate

import (
	"net/netip"
	"slices"
	"time"
)

// AddrCorrect says whether the truth knows the IPv6 attempt (src, port,
// first SYN at firstSeen), and whether v4 is its host's IPv4 address (or
// its NAT's): the address-level correctness Score counts.
func (t *Truth) AddrCorrect(src netip.Addr, port uint16, firstSeen time.Time, v4 netip.Addr) (known, correct bool) {
	ta, ok := t.v6[keyOf(src, port, firstSeen)]
	if !ok {
		return false, false
	}
	return true, slices.Contains(t.hostIPv4[ta.host], v4)
}
