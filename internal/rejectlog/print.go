package rejectlog

import (
	"bufio"
	"context"
	"io"

	"go.uber.org/zap"
)

// lineWriter writes rejections to w as JSON lines, through one buffer.
type lineWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (l *lineWriter) write(r Rejection) error {
	l.buf = r.AppendJSON(l.buf[:0])
	_, err := l.w.Write(l.buf)
	return err
}

// PrintArgs reads the logs the arguments name (see ScanArgs) and writes
// every rejection to w as a JSON line; damaged compressed logs are warned
// of on log. It returns the counts, as ScanArgs does.
func PrintArgs(ctx context.Context, w io.Writer, args []string, opts Options, log *zap.Logger) (Counters, error) {
	lw := lineWriter{w: bufio.NewWriterSize(w, 64<<10)}
	total, err := ScanArgs(ctx, args, opts, WarnDamaged(log), lw.write)
	if ferr := lw.w.Flush(); err == nil {
		err = ferr
	}
	return total, err
}

// FollowToWriter follows the live log at path from its start and writes
// every rejection to w as a JSON line, flushed after each batch; no
// position is recorded (FollowToFile does that). It returns nil when ctx
// is done.
func FollowToWriter(ctx context.Context, w io.Writer, path string, p *Parser, log *zap.Logger) error {
	lw := lineWriter{w: bufio.NewWriter(w)}
	f, err := NewFollower(FollowerConfig{Path: path, FromStart: true, Parser: p, Log: log,
		Handle: func(rs []Rejection) error {
			for _, r := range rs {
				if err := lw.write(r); err != nil {
					return err
				}
			}
			return lw.w.Flush()
		}})
	if err != nil {
		return err
	}
	return f.Run(ctx)
}
