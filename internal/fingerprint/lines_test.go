package fingerprint

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

type fpLine struct {
	Label   string `json:"label"`
	OSClass string `json:"os_class"`
	Dist    int    `json:"dist"`
	RawSig  string `json:"raw_sig"`
}

// A label from a p0f file may hold any byte: the JSON line escapes it as
// JSON does (strconv's "\x01" is not JSON).
func TestFingerprintJSONEscapes(t *testing.T) {
	ev := &synevent.Event{Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 35638, Dst: netip.MustParseAddr("192.0.2.25"), DstPort: 25}
	res := &Result{Label: "odd\x01 \"stack\" \x7f\u2028", Class: "c\\\t", Dist: 3}
	rec := res.Record(ev)
	line := rec.AppendJSON(nil)
	if !json.Valid(line) {
		t.Fatalf("not JSON: %s", line)
	}
	var back fpLine
	if err := json.Unmarshal(line, &back); err != nil || back.Label != res.Label || back.OSClass != res.Class {
		t.Errorf("%s decodes to %+v, %v", line, back, err)
	}
}

// LineWriter writes one line per SYN, text or JSON, of the same verdict.
func TestLineWriter(t *testing.T) {
	ev := &synevent.Event{Time: time.Date(2026, 11, 26, 10, 0, 0, 2e6, time.UTC),
		Src: netip.MustParseAddr("2001:db8::10"), SrcPort: 35638, Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25}
	db := Builtin()
	var text, js bytes.Buffer
	tw, jw := NewLineWriter(&text, db, false), NewLineWriter(&js, db, true)
	for range 2 {
		if err := tw.Write(ev); err != nil {
			t.Fatal(err)
		}
		if err := jw.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	res := db.Match(ev)
	lines := strings.SplitAfter(text.String(), "\n")
	if len(lines) != 3 || lines[0] != lines[1] || !strings.HasPrefix(lines[0], "2026-11-26T10:00:00.002Z [2001:db8::10]:35638 os=") ||
		!strings.HasSuffix(lines[0], " raw_sig="+res.RawSig()+"\n") {
		t.Errorf("text lines %q", lines)
	}
	var back fpLine
	if err := json.Unmarshal([]byte(strings.SplitAfter(js.String(), "\n")[0]), &back); err != nil || back.Label != res.Label || back.RawSig != res.RawSig() {
		t.Errorf("JSON line %q: %+v, %v", js.String(), back, err)
	}
}
