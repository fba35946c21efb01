package rejectlog

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// MarshalLogObject writes the counts as log fields; zap.Inline(c) puts
// them beside a message's other fields (see LogSummary).
func (c Counters) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddUint64("lines", c.Lines)
	enc.AddUint64("rejections", c.Matched)
	enc.AddUint64("pattern_rejections", c.Pattern)
	enc.AddUint64("other_lines", c.NotMatching)
	enc.AddUint64("garbage", c.Garbage)
	enc.AddUint64("too_long", c.TooLong)
	enc.AddUint64("invalid_utf8", c.InvalidUTF8)
	enc.AddUint64("control_chars", c.ControlChars)
	enc.AddUint64("bad_timestamp", c.BadTimestamp)
	enc.AddUint64("nul_runs", c.NULRuns)
	enc.AddUint64("damaged_files", c.DamagedFiles)
	return nil
}

// LogSummary logs what reading reject logs found: c's counts, then more.
func LogSummary(log *zap.Logger, c Counters, more ...zap.Field) {
	log.Info("reject logs read", append([]zap.Field{zap.Inline(c)}, more...)...)
}

// MarshalLogObject writes the damaged file, the offset of the damage and
// the error as log fields.
func (e *DamageError) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("file", e.Path)
	enc.AddInt64("offset", e.Offset)
	zap.Error(e.Err).AddTo(enc)
	return nil
}

// WarnDamaged returns the callback of ScanFiles and ScanArgs that warns of
// a damaged compressed log (the scan goes on with the next file).
func WarnDamaged(log *zap.Logger) func(*DamageError) {
	return func(d *DamageError) { logDamage(log, d) }
}

func logDamage(log *zap.Logger, d *DamageError) {
	log.Warn("compressed log damaged: the lines before the damage were read, the rest is lost", zap.Inline(d))
}
