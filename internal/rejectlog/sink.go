package rejectlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/atomicfile"
)

// stateVersion is the format version of state files.
const stateVersion = 1

// SinkState is what a state file records: the log position after the last
// delivered batch and the length of the output written up to and including
// that batch.
type SinkState struct {
	Position  Position `json:"position"`
	OutputLen int64    `json:"output_len"`
}

type stateFile struct {
	Version int `json:"version"`
	SinkState
	Saved time.Time `json:"saved"`
}

// LoadState reads a state file written by [SaveState]. A missing file is
// not an error: found is false.
func LoadState(path string) (st SinkState, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return SinkState{}, false, nil
	}
	if err != nil {
		return SinkState{}, false, err
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return SinkState{}, false, fmt.Errorf("state file %s: %w", path, err)
	}
	if sf.Version != stateVersion {
		return SinkState{}, false, fmt.Errorf("state file %s: version %d, want %d", path, sf.Version, stateVersion)
	}
	if sf.OutputLen < 0 || !sf.Position.valid() {
		return SinkState{}, false, fmt.Errorf("state file %s: invalid position or length", path)
	}
	return sf.SinkState, true, nil
}

// SaveState replaces the state file at path atomically (see
// [atomicfile.Write]): a crash leaves either the old or the new state.
func SaveState(path string, st SinkState) error {
	data, err := json.Marshal(stateFile{Version: stateVersion, SinkState: st, Saved: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// FileSinkOptions configure [FollowToFile].
type FileSinkOptions struct {
	// LogPath is the live log to follow.
	LogPath string
	// OutPath receives one JSON object per rejection (see [record.Rejection.AppendJSON]).
	OutPath string
	// StatePath holds the [SinkState]; it is created on the first run.
	StatePath string
	// Poll is the follower's poll interval; zero means 200ms.
	Poll time.Duration
	// Parser parses the lines; nil means NewParser(Options{}).
	Parser *Parser
	// Logger receives rotation events and warnings; nil means none.
	Logger *zap.Logger
}

// FollowToFile follows opts.LogPath and appends every DNSBL rejection to
// opts.OutPath as a JSON line, exactly once, across crashes and restarts.
//
// After each batch of log lines that holds rejections it writes them, syncs
// the output file, and then saves (see [SaveState]) the log position after
// the batch together with the output length. Batches without rejections
// are saved at most once a second (and when the follower moves to a new
// file, and on return): replaying them after a crash produces nothing. On start it loads the state,
// truncates the output to the saved length (dropping whatever a crashed
// run wrote after its last saved state) and resumes from the saved
// position, so the dropped rejections are produced again, once. The first
// run, without a state file, starts at the beginning of the live log and
// saves that starting point before reading anything.
//
// It returns nil when ctx is done. Only one process may use a given output
// and state file at a time.
func FollowToFile(ctx context.Context, opts FileSinkOptions) error {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	st, _, err := LoadState(opts.StatePath)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(opts.OutPath, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open output: %w", err)
	}
	defer out.Close()
	fi, err := out.Stat()
	if err != nil {
		return fmt.Errorf("open output: %w", err)
	}
	if fi.Size() < st.OutputLen {
		return fmt.Errorf("output %s has %d bytes, fewer than the %d its state file records", opts.OutPath, fi.Size(), st.OutputLen)
	}
	if fi.Size() > st.OutputLen {
		log.Info("dropping output written after the last saved state",
			zap.Int64("bytes", fi.Size()-st.OutputLen))
		if err := out.Truncate(st.OutputLen); err != nil {
			return fmt.Errorf("truncate output: %w", err)
		}
		if err := out.Sync(); err != nil {
			return fmt.Errorf("sync output: %w", err)
		}
	}
	if _, err := out.Seek(st.OutputLen, io.SeekStart); err != nil {
		return fmt.Errorf("seek output: %w", err)
	}
	outLen := st.OutputLen
	var buf []byte
	f, err := NewFollower(FollowerConfig{Path: opts.LogPath, FromStart: true, Parser: opts.Parser, Poll: opts.Poll,
		QuietSave: stateSaveInterval, Log: log,
		Positions: StateFile{Path: opts.StatePath, OutputLen: func() int64 { return outLen }},
		Handle: func(rs []Rejection) error {
			if len(rs) == 0 {
				return nil
			}
			buf = buf[:0]
			for _, r := range rs {
				buf = r.AppendJSON(buf)
			}
			if _, err := out.Write(buf); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			if err := out.Sync(); err != nil {
				return fmt.Errorf("sync output: %w", err)
			}
			outLen += int64(len(buf))
			return nil
		}})
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

// stateSaveInterval bounds how long FollowToFile leaves the state file
// behind when the log holds no rejections.
const stateSaveInterval = time.Second
