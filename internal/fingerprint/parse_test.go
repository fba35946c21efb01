package fingerprint

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const header = "classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Test:1\n"

func parseOne(t *testing.T, sig string) signature {
	t.Helper()
	db, warns, err := Parse(strings.NewReader(header+"sig = "+sig+"\n"), "t.fp")
	if err != nil {
		t.Fatalf("%s: %v", sig, err)
	}
	if len(warns) != 0 || db.Len() != 1 {
		t.Fatalf("%s: %d sigs, warnings %v", sig, db.Len(), warns)
	}
	return db.sigs[0]
}

func TestParseFieldForms(t *testing.T) {
	tests := []struct {
		sig   string
		check func(s signature) bool
	}{
		{"4:64:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0", func(s signature) bool {
			return s.ver == 4 && s.ttl == 64 && !s.badTTL && s.olen == 0 && s.mss == 1460 &&
				s.winKind == winMSS && s.win == 20 && s.wscale == 7 && s.pclass == 0 &&
				s.quirks == QuirkDF|QuirkNonZeroID &&
				s.layout == makeKey([]uint8{optMSS, optSACKOK, optTS, optNOP, optWS})
		}},
		{"6:64:0:*:*,*:::*", func(s signature) bool {
			return s.ver == 6 && s.mss == -1 && s.winKind == winAny && s.wscale == -1 && s.pclass == -1 &&
				s.quirks == 0 && s.layout == makeKey(nil)
		}},
		{"*:54+10:4:0:%8192,0:?30,sack,eol+3::+", func(s signature) bool {
			return s.ver == -1 && s.ttl == 64 && s.olen == 4 && s.mss == 0 && s.winKind == winMod &&
				s.win == 8192 && s.pclass == 1 && s.eolPad == 3 &&
				s.layout == makeKey([]uint8{30, optSACK, optEOL})
		}},
		{"*:64-:0:1460:1024,0:mss::0", func(s signature) bool {
			return s.badTTL && s.ttl == 64 && s.winKind == winValue && s.win == 1024
		}},
		{"4:128:0:*:mtu*4,2:mss,nop,ws::0", func(s signature) bool { return s.winKind == winMTU && s.win == 4 }},
		{"4:255:0:*:65535,255:mss:df,id+,id-,ecn,0+,seq-,ack+,ack-,uptr+,urgf+,pushf+,ts1-,ts2+,opt+,exws,bad:0",
			func(s signature) bool { return s.quirks == (1<<numQuirks-1)&^QuirkFlow && s.wscale == 255 }},
		{"*:64:0:*:*,*:mss:df,id+,flow:0", func(s signature) bool { return s.quirks == QuirkDF|QuirkNonZeroID|QuirkFlow }},
		{"6:64:0:*:*,*:mss:flow,ecn:0", func(s signature) bool { return s.quirks == QuirkFlow|QuirkECN }},
		{"4:1:255:65535:0,0:eol+0::0", func(s signature) bool {
			return s.ttl == 1 && s.olen == 255 && s.mss == 65535 && s.win == 0 && s.layout == makeKey([]uint8{optEOL})
		}},
		// p0f reads an empty number as 0, and tolerates a trailing comma in lists.
		{"4:64:::,:mss,:df,:0", func(s signature) bool {
			return s.olen == 0 && s.mss == 0 && s.win == 0 && s.wscale == 0 && s.quirks == QuirkDF &&
				s.layout == makeKey([]uint8{optMSS})
		}},
		{"4:64:0:*:mss*1000,0:?0,?255::0", func(s signature) bool { return s.win == 1000 && s.layout == makeKey([]uint8{0, 255}) }},
		{"4:64:0:*:*,0:" + strings.Repeat("nop,", 23) + "nop::0", func(s signature) bool { return s.layout[0] == 24 }},
	}
	for _, tt := range tests {
		if s := parseOne(t, tt.sig); !tt.check(s) {
			t.Errorf("%s: parsed as %+v", tt.sig, s)
		}
	}
}

func TestParseLabels(t *testing.T) {
	db, _, err := Parse(strings.NewReader(`
; comment
   ; indented comment
classes = win, unix,other
[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
label = g:unix:Mac OS X:
sig   = *:64:0:*:65535,*:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
label = s:UNIX:linux:(Android)
sig   = *:64:0:*:mss*44,1:mss,sok,ts,nop,ws:df,id+:0
label = s:!:NMap:SYN scan
sys   = @unix,@WIN,Some Thing
sig   = *:64-:0:1460:1024,0:mss::0
label = s:win:iOS:iPhone: or: iPad
sig   = *:64:0:*:65535,2:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
`), "l.fp")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		label, class  string
		generic, tool bool
		source        string
	}{
		{"Linux 3.11 and newer", "Linux", false, false, "l.fp:7"},
		{"Mac OS X", "Mac OS X", true, false, "l.fp:9"},
		{"Linux (Android)", "Linux", false, false, "l.fp:11"}, // first spelling of the name wins
		{"NMap SYN scan", "unknown", false, true, "l.fp:14"},
		{"iOS iPhone: or: iPad", "iOS", false, false, "l.fp:16"},
	}
	if db.Len() != len(want) {
		t.Fatalf("%d signatures, want %d", db.Len(), len(want))
	}
	for i, w := range want {
		s := db.sigs[i]
		if s.label != w.label || s.class != w.class || s.generic != w.generic || s.tool != w.tool || s.source != w.source {
			t.Errorf("sig %d: %q %q generic=%v tool=%v %s; want %+v", i, s.label, s.class, s.generic, s.tool, s.source, w)
		}
	}
}

func TestParseSkipsOtherSections(t *testing.T) {
	text := `classes = win,unix,other
[mtu]
label = Ethernet or modem
sig   = 576
sig   = 1500
[tcp:request]
label = s:unix:Linux:3.x
sig   = *:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df,id+:0
[tcp:response]
label = s:unix:Linux:3.x
sig   = 4:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df,id+:0
sig   = 4:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df,id+:0
[http:request]
ua_os = Linux,Windows,iOS=[iPad],iOS=[iPhone]
label = s:!:Firefox:10.x or newer
sys   = Windows,@unix
sig   = *:Host,User-Agent:Accept-Charset:Firefox/
[http:response]
label = s:!:Apache:2.x
sys   = @unix
sig   = 1:Date,Server:Keep-Alive:Apache
`
	db, warns, err := Parse(strings.NewReader(text), "s.fp")
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 1 {
		t.Errorf("kept %d signatures, want the one [tcp:request] signature", db.Len())
	}
	// The duplicate SYN+ACK signature is still reported.
	if len(warns) != 1 || warns[0].String() != "s.fp:12: signature already covered by s.fp:11" {
		t.Errorf("warnings %v", warns)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text string
		want string // the whole error, file:line included
	}{
		{header + "sig = 4:64:0:*:*,*:mss:foo:0", `e.fp:4: unknown quirk "foo"`},
		{header + "sig = 4:64:0:*:*,*:mss:df,foo,id+:0", `e.fp:4: unknown quirk "foo"`},
		{header + "sig = 4:64:0:*:*,*:mss:df", `e.fp:4: signature ends in the quirks`},
		{header + "sig = 5:64:0:*:*,*:mss::0", `e.fp:4: bad IP version in signature "5:64:0:*:*,*:mss::0"`},
		{header + "sig = 4-64:0:*:*,*:mss::0", `e.fp:4: malformed signature "4-64:0:*:*,*:mss::0"`},
		{header + "sig = 4:0:0:*:*,*:mss::0", `e.fp:4: initial TTL 0 out of range 1..255`},
		{header + "sig = 4:256:0:*:*,*:mss::0", `e.fp:4: initial TTL 256 out of range 1..255`},
		{header + "sig = 4:x:0:*:*,*:mss::0", `e.fp:4: malformed initial TTL in signature "4:x:0:*:*,*:mss::0"`},
		{header + "sig = 4:250+10:0:*:*,*:mss::0", `e.fp:4: initial TTL 250+10 above 255`},
		{header + "sig = 4:64-5:0:*:*,*:mss::0", `e.fp:4: malformed initial TTL in signature "4:64-5:0:*:*,*:mss::0"`},
		{header + "sig = 4:64:256:*:*,*:mss::0", `e.fp:4: IP option length 256 out of range 0..255`},
		{header + "sig = 4:64:0:70000:*,*:mss::0", `e.fp:4: MSS 70000 out of range 0..65535`},
		{header + "sig = 4:64:0:x:*,*:mss::0", `e.fp:4: malformed MSS in signature`},
		{header + "sig = 4:64:0:*:%1,*:mss::0", `e.fp:4: window modulus 1 out of range 2..65535`},
		{header + "sig = 4:64:0:*:mss*0,*:mss::0", `e.fp:4: window multiplier 0 out of range 1..1000`},
		{header + "sig = 4:64:0:*:mtu*1001,*:mss::0", `e.fp:4: window multiplier 1001 out of range 1..1000`},
		{header + "sig = 4:64:0:*:70000,*:mss::0", `e.fp:4: window size 70000 out of range 0..65535`},
		{header + "sig = 4:64:0:*:*:*:mss::0", `e.fp:4: malformed window size in signature`},
		{header + "sig = 4:64:0:*:*,256:mss::0", `e.fp:4: window scale 256 out of range 0..255`},
		{header + "sig = 4:64:0:*:*,*:mss,foo::0", `e.fp:4: unknown TCP option "foo"`},
		{header + "sig = 4:64:0:*:*,*:eol,mss::0", `e.fp:4: malformed EOL option: want eol+N`},
		{header + "sig = 4:64:0:*:*,*:eol+1,mss::0", `e.fp:4: EOL must be the last option`},
		{header + "sig = 4:64:0:*:*,*:eol+300::0", `e.fp:4: EOL padding 300 above 255`},
		{header + "sig = 4:64:0:*:*,*:mss,eol+1", `e.fp:4: signature ends in the option layout`},
		{header + "sig = 4:64:0:*:*,*:?300::0", `e.fp:4: option kind 300 above 255`},
		{header + "sig = 4:64:0:*:*,*:?x::0", `e.fp:4: malformed '?' option`},
		{header + "sig = 4:64:0:*:*,*:mssnop::0", `e.fp:4: malformed TCP option list`},
		{header + "sig = 4:64:0:*:*,*:" + strings.Repeat("nop,", 24) + "nop::0", `e.fp:4: more than 24 TCP options`},
		{header + "sig = 4:64:0:*:*,*:mss::1", `e.fp:4: bad payload class "1" (want 0, + or *)`},
		{header + "sig = 4:64:0:*:*,*:mss:dfx:0", `e.fp:4: unknown quirk "dfx"`},
		{header + "sig = 6:64:0:*:*,*:mss:df:0", `e.fp:4: quirk "df" is not valid for IPv6`},
		{header + "sig = 6:64:0:*:*,*:mss:id+:0", `e.fp:4: quirk "id+" is not valid for IPv6`},
		{header + "sig = 6:64:0:*:*,*:mss:0+:0", `e.fp:4: quirk "0+" is not valid for IPv6`},
		{header + "sig = 4:64:0:*:*,*:mss:flow:0", `e.fp:4: quirk "flow" is not valid for IPv4`},
		{"classes = win\n[tcp:request]\nlabel = s:unix:Linux:\n", `e.fp:3: unknown class "unix"`},
		{"classes = win\n[tcp:request]\nlabel = x:win:Windows:\n", `e.fp:3: malformed label "x:win:Windows:": want s|g:class:name:flavor`},
		{"classes = win\n[tcp:request]\nlabel = s:win:Windows\n", `e.fp:3: malformed label "s:win:Windows": bad name`},
		{"classes = win\n[tcp:request]\nlabel = s:win::x\n", `e.fp:3: malformed label "s:win::x": bad name`},
		{"classes = win\n[tcp:request]\nlabel = s::Windows:x\n", `e.fp:3: malformed label "s::Windows:x": bad class`},
		{"classes = win\n[tcp:request]\nlabel = s:!:NMap:x\nsig = *:64-:0:1460:1024,0:mss::0\n",
			`e.fp:4: misplaced 'sig': an application label needs a 'sys' line first`},
		{"classes = win\n[tcp:request]\nlabel = s:!:NMap:x\nsys = @unix\n", `e.fp:4: unknown class "unix"`},
		{"classes = win\n[tcp:request]\nlabel = s:!:NMap:x\nsys = @win,\n", `e.fp:4: malformed sys entry in ""`},
		{"classes = win\n[tcp:request]\nlabel = s:win:W:x\nsys = @win\n", `e.fp:4: misplaced 'sys' (only application labels take one)`},
		{"classes = win\n[tcp:request]\nsig = *:64:0:1460:1024,0:mss::0\n", `e.fp:3: misplaced 'sig': no label before it`},
		{"label = s:win:W:x\n", `e.fp:1: misplaced 'label'`},
		{"classes = win\n[tcp:request]\nclasses = unix\n", `e.fp:3: 'classes' must come before the first section`},
		{"classes = win,\n", `e.fp:1: malformed class list`},
		{"classes = win!\n", `e.fp:1: malformed class list`},
		{"[udp:request]\n", `e.fp:1: unknown module "udp"`},
		{"[tcp:sideways]\n", `e.fp:1: unknown traffic direction "sideways"`},
		{"[tcp]\n", `e.fp:1: malformed section header "[tcp]"`},
		{"# hash comments are not p0f syntax\n", `e.fp:1: expected "name = value", got "# hash comments are not p0f syntax"`},
		{"label\n", `e.fp:1: expected "name = value", got "label"`},
		{"flavor = x\n", `e.fp:1: unknown field "flavor"`},
		{"[tcp:request]\nua_os = Linux\n", `e.fp:2: misplaced 'ua_os'`},
		{"[mtu]\nlabel =\n", `e.fp:2: empty MTU label`},
		{"[mtu]\nlabel = x\nsig = 0\n", `e.fp:3: malformed MTU "0"`},
		{"[mtu]\nlabel = x\nsig = 15x\n", `e.fp:3: malformed MTU "15x"`},
		{"[mtu]\nlabel = x\nsig = 65536\n", `e.fp:3: malformed MTU "65536"`},
	}
	for _, tt := range tests {
		_, _, err := Parse(strings.NewReader(tt.text), "e.fp")
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a *SyntaxError", tt.text, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.text, err, tt.want)
		}
	}
}

func TestParseCoveredWarnings(t *testing.T) {
	const L = ":mss,sok,ts,nop,ws:"
	text := header + // lines 1-3
		"sig = 4:64:0:*:mss*20,7" + L + "df,id+:0\n" + // 4
		"sig = 4:64:0:*:mss*20,7" + L + "df,id+:0\n" + // 5: same as 4
		"sig = 4:64:0:1460:mss*20,7" + L + "df,id+:0\n" + // 6: narrower MSS
		"sig = 4:64:0:1460:29200,7" + L + "df,id+:0\n" + // 7: 29200 is 20 x 1460
		"sig = 4:64:0:*:mss*20,8" + L + "df,id+:0\n" + // 8
		"sig = 4:64:0:*:mss*20,8" + L + "df:0\n" + // 9: only a fuzzy match of 8
		"sig = 4:60:0:*:mss*20,8" + L + "df,id+:0\n" + // 10: within 35 hops of 8
		"sig = 4:20:0:*:mss*20,8" + L + "df,id+:0\n" + // 11: 44 hops: fuzzy
		"sig = 4:64-:0:*:mss*20,9" + L + "df,id+:0\n" + // 12
		"sig = 4:64-:0:*:mss*20,9" + L + "df,id+:0\n" + // 13: same as 12
		"sig = *:64:0:*:mss*20,10" + L + "df,id+:0\n" + // 14
		"sig = *:64:0:*:mss*20,10" + L + "df,id+:0\n" + // 15: same, but p0f strips df,id+ from 14 and misses it
		"sig = 6:64:0:*:mss*20,10" + L + ":0\n" + // 16: the IPv6 reading of 14
		"label = g:unix:Generic:\n" + // 17
		"sig = 4:64:0:*:*,*" + L + "df,id+:0\n" + // 18
		"sig = 4:64:0:*:*,*" + L + "df,id+:0\n" // 19: generic matches are not reported
	_, warns, err := Parse(strings.NewReader(text), "w.fp")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		"w.fp:5: signature already covered by w.fp:4",
		"w.fp:6: signature already covered by w.fp:4",
		"w.fp:7: signature already covered by w.fp:4",
		"w.fp:10: signature already covered by w.fp:8",
		"w.fp:13: signature already covered by w.fp:12",
		"w.fp:16: signature already covered by w.fp:14",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseLeniency(t *testing.T) {
	// CRLF line ends, trailing blanks and a missing final newline are fine.
	text := "classes = win,unix\r\n[tcp:request]  \r\nlabel = s:unix:Linux:3.x \r\nsig = *:64:0:*:mss*10,*:mss,sok,ts,nop,ws:df,id+:0\t"
	db, _, err := Parse(strings.NewReader(text), "crlf.fp")
	if err != nil || db.Len() != 1 || db.sigs[0].label != "Linux 3.x" {
		t.Fatalf("db %v, err %v", db, err)
	}
	db, _, err = Parse(strings.NewReader(""), "empty.fp")
	if err != nil || db.Len() != 0 {
		t.Fatalf("empty file: %v %v", db, err)
	}
}

func TestLoadStock(t *testing.T) {
	requireP0f(t, StockPath)
	db, warns, err := LoadFile(StockPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings on the stock database (p0f loads it): %v", warns)
	}
	if db.Len() < 50 {
		t.Errorf("only %d SYN signatures", db.Len())
	}
	t.Logf("%d SYN signatures", db.Len())
}

func TestLoadFileMissing(t *testing.T) {
	if _, _, err := LoadFile("/nonexistent/p0f.fp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v", err)
	}
}

func TestBuiltin(t *testing.T) {
	db := Builtin()
	if db.Len() == 0 {
		t.Fatal("empty built-in database")
	}
	if Builtin() != db {
		t.Error("Builtin parses more than once")
	}
	_, warns, err := Parse(strings.NewReader(string(builtinText)), "builtin.fp")
	if err != nil || len(warns) != 0 {
		t.Errorf("builtin.fp: %v %v", err, warns)
	}
}
