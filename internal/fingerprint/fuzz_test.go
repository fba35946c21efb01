package fingerprint

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

func FuzzParseDB(f *testing.F) {
	f.Add(string(builtinText))
	if stock, err := os.ReadFile(StockPath); err == nil {
		f.Add(string(stock))
	}
	f.Add(header + "sig = *:64-:0:*:%8192,*:?30,sack,eol+3:df,id+,ecn:*\n")
	f.Add(header + "sig = 4:54+10:4:0:mtu*4,0:eol+0::+\n")
	f.Add("[mtu]\nlabel = x\nsig = 1500\n[http:request]\nua_os = Linux\n")
	f.Add("classes = a,b\n[tcp:response]\nlabel = g:!:T:\nsys = @a,x y\nsig = 6:1:0:*:*,*:::0\n")
	evs := benchEvents()
	f.Fuzz(func(t *testing.T, text string) {
		db, warns, err := Parse(strings.NewReader(text), "f.fp")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || !strings.HasPrefix(err.Error(), "f.fp:") {
				t.Fatalf("error %v is not a located syntax error", err)
			}
			return
		}
		for _, w := range warns {
			if w.Line < 1 || w.File != "f.fp" {
				t.Fatalf("bad warning %v", w)
			}
		}
		for _, ev := range evs[:8] {
			r := db.Match(ev)
			_ = r.AppendRawSig(nil)
		}
	})
}

// FuzzOptions feeds arbitrary TCP options and header values to Observe and
// Match. Besides not panicking, a SYN must always match its own raw
// signature read back as a database signature, exactly (when p0f can print
// the distance guess and the TTL is not 0).
func FuzzOptions(f *testing.F) {
	f.Add(linuxOpts, uint16(0x02), uint32(0), uint8(64), uint16(29200), false)
	f.Add(macOpts, uint16(0x02), uint32(0x01000000), uint8(50), uint16(65535), true)
	f.Add([]byte{0, 1, 0, 5}, uint16(0x1c2), uint32(7), uint8(255), uint16(1), false)
	f.Add([]byte{5, 34, 8, 10, 30, 41, 3, 3, 99}, uint16(0x22), uint32(7), uint8(1), uint16(0), true)
	f.Fuzz(func(t *testing.T, opt []byte, flags uint16, ack uint32, ttl uint8, win uint16, ipv6 bool) {
		if len(opt) > 40 {
			opt = opt[:40]
		}
		ev := testEvent(opts(opt...), func(e *synevent.Event) {
			e.Flags, e.Ack, e.TTL, e.Window = flags&0x1ff, ack, ttl, win
			e.Urgent = uint16(ack)
			e.TOS = uint8(ack >> 8)
			if ack&0x100000 != 0 {
				e.PayloadLen = 3
			}
			if ack&0x200000 != 0 {
				e.IPFlags = uint8(ack>>24) & 7
				e.IPID = uint16(ack >> 4)
			}
		})
		if ipv6 {
			v6(ev)
			ev.FlowLabel = ack & 0xfffff
		}
		o := Observe(ev)
		if o.NumOptions > MaxOptions || int(o.EOLPad) >= max(len(opt), 1) && o.EOLPad != 0 {
			t.Fatalf("bad observation %+v", o)
		}
		raw := o.String()
		db := Builtin()
		r := db.Match(ev)
		if r.RawSig() != raw {
			t.Fatalf("Match and Observe disagree: %s vs %s", r.RawSig(), raw)
		}
		if strings.Contains(raw, "+?") || ttl == 0 {
			return // no initial TTL to read back (p0f refuses 0 there)
		}
		// "4:64+0:..." reads back as initial TTL 64 plus 0 hops.
		self, warns, err := Parse(strings.NewReader(header+"sig = "+raw+"\n"), "self.fp")
		if err != nil || len(warns) > 0 {
			t.Fatalf("own signature %s does not parse: %v %v", raw, err, warns)
		}
		if r := self.Match(ev); !r.Matched || r.Fuzzy || r.Dist != int(guessDist(ttl)) {
			t.Fatalf("SYN does not match its own signature %s exactly: %+v", raw, r)
		}
	})
}
