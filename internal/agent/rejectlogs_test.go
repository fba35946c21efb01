package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// TestRejectLogsPatterns: the agent reads its reject logs with the
// operator's patterns, and counts their rejections apart.
func TestRejectLogsPatterns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	line := "2026-11-26T10:00:00+00:00 mx1 haraka[99]: [dnsbl] 203.0.113.9 listed on Spamhaus ZEN\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	pats, err := rejectlog.CompilePatterns([]string{`haraka\[\d+\]: \[dnsbl\] (?P<ip>\S+) listed on (?P<zone>.+)$`})
	if err != nil {
		t.Fatal(err)
	}
	rl := newRejectLogsPart(RejectLogConfig{Paths: []string{path}, Location: time.UTC, Patterns: pats}, nil, nil, zap.NewNop())
	if err := rl.Start(); err != nil {
		t.Fatal(err)
	}
	defer rl.Stop()
	if c := rl.Counters(); c.Matched != 1 || c.Pattern != 1 {
		t.Errorf("counters %+v", c)
	}
	if !rl.set.Listed(netip.MustParseAddr("203.0.113.9"), time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)) {
		t.Error("the pattern's rejection is not in the set")
	}
}
