package rejectlog

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDocsExamples: every example line of docs/rejectlog.md is a
// rejection, read with the patterns its YAML example gives.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../../docs/rejectlog.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines, patterns []string
	block := ""
	for l := range strings.SplitSeq(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```") && block == "":
			block = strings.TrimPrefix(l, "```")
		case strings.HasPrefix(l, "```"):
			block = ""
		case block == "text":
			lines = append(lines, l)
		case block == "yaml" && strings.HasPrefix(l, "    - '"):
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(l, "    - '"), "'"))
		}
	}
	if len(lines) < 9 || len(patterns) != 2 {
		t.Fatalf("%d example lines, %d patterns", len(lines), len(patterns))
	}
	pats, err := CompilePatterns(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		p := NewParser(Options{Location: time.UTC, Now: func() time.Time { return refNow }, Patterns: pats})
		if r, ok, err := p.Parse(l); !ok || err != nil {
			t.Errorf("%q: ok %v err %v", l, ok, err)
		} else {
			checkRejection(t, l, r)
		}
	}
	// The rspamd pattern reads a symbol of one's own.
	p := NewParser(Options{Location: time.UTC, Now: func() time.Time { return refNow }, Patterns: pats})
	line := rspamdFile + rspamdResult("192.0.2.7", "reject", "BAYES_SPAM(5.10){},MY_DNSBL(3.00){}")
	if r, ok, _ := p.Parse(line); !ok || r.Zone != "MY_DNSBL" || r.ZoneKind != ZoneKindName || r.IP.String() != "192.0.2.7" {
		t.Errorf("own rspamd symbol: %+v %v", r, ok)
	}
}
