package fingerprint

import (
	"strings"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Result is the verdict for one SYN.
type Result struct {
	// Label is what p0f prints as os= (or app= for a tool): the signature's
	// name and flavor, e.g. "Linux 3.11 and newer", or "???" when nothing
	// matched. Generic and fuzzy matches print the same way; p0f marks them
	// in its params= field (see AppendParams).
	Label string
	// Class is the OS family for our users: "Windows", "Linux", "Mac OS X",
	// "iOS", "FreeBSD", ..., or "unknown" when nothing matched or the match
	// is an application such as a scanner.
	Class string
	// Generic is set for a match on a generic ("g:") signature, Fuzzy for
	// an approximate match; Matched for any match.
	Generic, Fuzzy, Matched bool
	// Tool is set when the match is an application ("!" class) signature,
	// which p0f logs as app= rather than os=.
	Tool bool
	// RandomTTL is set when the matched signature declares a randomised
	// TTL ("64-"); Dist is then an upper bound and p0f prints "dist=<= N".
	RandomTTL bool
	// Dist is the hop distance p0f prints as dist=.
	Dist int
	// Source is the matched signature's "file:line", "" without a match.
	Source string
	// Sig is the SYN's signature.
	Sig Observed
}

// probe is the side of a comparison being matched against the database: a
// packet's signature, or a new database signature when checking whether an
// earlier one already covers it.
type probe struct {
	ver     int8
	quirks  Quirks
	eolPad  uint8
	olen    uint8
	ttl     uint8
	mss     int32
	wscale  int16
	pclass  int8
	win     uint16
	winKind winKind // winValue for packets
	winMul  int16
	winMTU  bool
}

// search runs p0f's matching over the signatures with the probe's option
// layout, in order. It returns the first exact (non-fuzzy) specific match
// if any; otherwise the first exact generic match (gen) and the first fuzzy
// match (fuzzy), either of which may be -1.
func (db *DB) search(cands []int32, p *probe) (exact, gen, fuzzy int32) {
	gen, fuzzy = -1, -1
	for _, ix := range cands {
		s := &db.sigs[ix]
		fz := false

		// A version-less signature must not demand the other version's
		// quirks.
		want := s.quirks
		if s.ver == -1 {
			if p.ver == 4 {
				want &^= ipv6OnlyQuirks
			} else {
				want &^= QuirkDF | QuirkNonZeroID | QuirkZeroID
			}
		}
		if want != p.quirks {
			missing := want &^ p.quirks
			extra := p.quirks &^ want
			// Only df or id+ disappearing and id- or ecn appearing are
			// tolerated, and only while no fuzzy candidate is known yet.
			if fuzzy >= 0 || missing&^(QuirkDF|QuirkNonZeroID) != 0 || extra&^(QuirkZeroID|QuirkECN) != 0 {
				continue
			}
			fz = true
		}
		if s.eolPad != p.eolPad || s.olen != p.olen {
			continue
		}
		if s.badTTL {
			if s.ttl < p.ttl {
				continue
			}
		} else if s.ttl < p.ttl || s.ttl-p.ttl > maxDist {
			fz = true
		}
		if s.mss != -1 && s.mss != p.mss ||
			s.wscale != -1 && s.wscale != p.wscale ||
			s.pclass != -1 && s.pclass != p.pclass {
			continue
		}
		if p.winKind != winValue {
			// Two database signatures: the window fields must be equal.
			if s.winKind != p.winKind || s.win != p.win {
				continue
			}
		} else {
			switch s.winKind {
			case winValue:
				if s.win != p.win {
					continue
				}
			case winMod:
				if p.win%s.win != 0 {
					continue
				}
			case winMSS:
				if p.winMTU || int16(s.win) != p.winMul {
					continue
				}
			case winMTU:
				if !p.winMTU || int16(s.win) != p.winMul {
					continue
				}
			}
		}
		switch {
		case fz:
			if fuzzy < 0 {
				fuzzy = ix
			}
		case !s.generic:
			return ix, -1, -1
		case gen < 0:
			gen = ix
		}
	}
	return -1, gen, fuzzy
}

// covering returns the earlier signature that already matches everything s
// does (as p0f decides it), or nil.
func (db *DB) covering(s *signature) *signature {
	p := probe{ver: s.ver, quirks: s.quirks, eolPad: s.eolPad, olen: s.olen, ttl: s.ttl,
		mss: s.mss, wscale: s.wscale, pclass: s.pclass, win: s.win, winKind: s.winKind, winMul: -1}
	if s.winKind == winValue {
		p.winMul, p.winMTU = windowMultiple(s.win, s.mss, 0, s.ver == 6, 0)
	}
	if exact, _, _ := db.search(db.index[s.layout], &p); exact >= 0 {
		return &db.sigs[exact]
	}
	return nil
}

// Match fingerprints a SYN. It does not allocate.
func (db *DB) Match(ev *synevent.Event) Result {
	r := Result{Label: "???", Class: "unknown", Sig: Observe(ev)}
	o := &r.Sig
	p := probe{ver: int8(o.Version), quirks: o.Quirks, eolPad: o.EOLPad, olen: o.IPOptLen,
		ttl: o.TTL, mss: int32(o.MSS), wscale: int16(o.WScale), win: o.Window,
		winMul: o.WinMul, winMTU: o.WinMTU}
	if o.Payload {
		p.pclass = 1
	}
	var exact, gen, fuzzy int32 = -1, -1, -1
	if db != nil {
		exact, gen, fuzzy = db.search(db.index[makeKey(o.Options())], &p)
	}
	var m *signature
	switch {
	case exact >= 0:
		m = &db.sigs[exact]
		r.Dist = int(m.ttl - o.TTL)
	case gen >= 0:
		m = &db.sigs[gen]
		r.Dist = int(m.ttl - o.TTL)
	case fuzzy >= 0 && db.sigs[fuzzy].tool:
		// p0f gives applications no fuzzy matches, and leaves the
		// distance at zero in that case.
		return r
	default:
		if fuzzy >= 0 {
			m = &db.sigs[fuzzy]
			r.Fuzzy = true
		}
		if m != nil && m.ttl >= o.TTL && (m.badTTL || m.ttl-o.TTL <= maxDist) {
			r.Dist = int(m.ttl - o.TTL)
		} else {
			r.Dist = int(guessDist(o.TTL))
		}
	}
	if m != nil {
		r.Matched = true
		r.Label, r.Class, r.Source = m.label, m.class, m.source
		r.Generic, r.Tool, r.RandomTTL = m.generic, m.tool, m.badTTL
	}
	if o.Window == sendsynWindow && o.MSS == sendsynMSS {
		// p0f's own p0f-sendsyn probes: p0f reports whatever they match
		// as an application (app=), never as an operating system.
		r.Tool, r.Class = true, "unknown"
	}
	return r
}

// The window and MSS of p0f-sendsyn probes.
const (
	sendsynWindow = 1337
	sendsynMSS    = 1331
)

// familyOf normalises an OS name into the family reported as Result.Class.
func familyOf(name string, tool bool) string {
	if tool {
		return "unknown"
	}
	switch strings.ToLower(name) {
	case "windows":
		return "Windows"
	case "linux":
		return "Linux"
	case "mac os x", "macos x", "macos", "os x", "macosx":
		return "Mac OS X"
	case "ios":
		return "iOS"
	case "freebsd":
		return "FreeBSD"
	case "openbsd":
		return "OpenBSD"
	case "netbsd":
		return "NetBSD"
	case "solaris":
		return "Solaris"
	case "hp-ux":
		return "HP-UX"
	}
	return name
}
