package pipeline

import "go.uber.org/zap/zapcore"

// MarshalLogObject gives the counts to a zap log record as fields (what
// Summary says in prose), e.g. log.Info("...", zap.Inline(st)).
func (s Stats) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, f := range []struct {
		name string
		n    uint64
	}{{"syns", s.SYNs}, {"attempts", s.Attempts}, {"ipv4_attempts", s.IPv4}, {"ipv6_attempts", s.IPv6},
		{"associated", s.Associated}, {"spammers", s.Spammers}, {"forced_attempts", s.ForcedAttempts},
		{"late_syns", s.LateSYNs}, {"dropped_ipv4", s.DroppedIPv4}, {"early_ipv6", s.EarlyIPv6},
		{"capped_decisions", s.CappedDecisions}} {
		enc.AddUint64(f.name, f.n)
	}
	return nil
}
