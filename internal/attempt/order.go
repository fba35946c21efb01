package attempt

// Before reports whether a comes before b in the emission order (see the
// package comment) as far as the attempts themselves tell: FirstSeen,
// source address, source port, destination address, destination port,
// ISN. Arrival, the last tie-break, is the grouper's own: attempts alike
// up to the ISN come from one source, so a front end that splits the
// SYNs by source address keeps them in one grouper, in its order.
func Before(a, b *Attempt) bool {
	if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
		return c < 0
	}
	if c := a.Src.Compare(b.Src); c != 0 {
		return c < 0
	}
	if a.SrcPort != b.SrcPort {
		return a.SrcPort < b.SrcPort
	}
	if c := a.Dst.Compare(b.Dst); c != 0 {
		return c < 0
	}
	if a.DstPort != b.DstPort {
		return a.DstPort < b.DstPort
	}
	return a.ISN < b.ISN
}
