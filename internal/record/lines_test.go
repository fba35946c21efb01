package record

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	in := "short\n" + strings.Repeat("x", 300) + "\n\n" + strings.Repeat("y", 100) + "\nlast"
	lr := NewLineReader(strings.NewReader(in), 100)
	var got []string
	for {
		line, err := lr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrLineTooLong) {
			got = append(got, "TOO LONG")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	want := []string{"short", "TOO LONG", "", strings.Repeat("y", 100), "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	// An over-long last line without a newline.
	lr = NewLineReader(strings.NewReader("a\n"+strings.Repeat("z", 101)), 100)
	if l, err := lr.Next(); err != nil || string(l) != "a" {
		t.Fatalf("%q %v", l, err)
	}
	if _, err := lr.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v", err)
	}
	if _, err := lr.Next(); err != io.EOF {
		t.Fatalf("err %v", err)
	}
}

// A line over MaxLine in the middle of a file is skipped and counted; the
// lines around it are read.
func TestScanSkipsOverlongLine(t *testing.T) {
	line := func(src string) string {
		return `{"first_seen":"2026-11-26T10:00:00Z","src":"` + src + `","sport":1000,"syns":1,"os_class":"Linux","addr_type":"other","ipv4":null,"score":0,"evidence":[],"spammer":false}` + "\n"
	}
	huge := `{"first_seen":"2026-11-26T10:00:00Z","src":"2001:db8::9","evidence":["` + strings.Repeat("e", 2<<20) + `"]}` + "\n"
	in := line("2001:db8::1") + huge + line("2001:db8::2") + line("2001:db8::3")
	var got []string
	st, err := ScanAssociations(strings.NewReader(in), Window{}, func(a *Association) error {
		got = append(got, a.Src.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "2001:db8::1 2001:db8::2 2001:db8::3" {
		t.Errorf("got %v", got)
	}
	if st.Lines != 4 || st.Bad != 1 || st.TooLong != 1 || !strings.Contains(st.FirstBad, "line 2: line too long") {
		t.Errorf("stats %+v", st)
	}
}
