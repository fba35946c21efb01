package rejectlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestMain doubles as the follower process of the crash test: started with
// REJECTLOG_FOLLOWER=1, the test binary runs FollowToFile instead of the
// tests.
func TestMain(m *testing.M) {
	if os.Getenv("REJECTLOG_FOLLOWER") == "1" {
		os.Exit(followerMain())
	}
	os.Exit(m.Run())
}

func followerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log, err := zap.NewDevelopment()
	if err != nil {
		log = zap.NewNop()
	}
	err = FollowToFile(ctx, FileSinkOptions{
		LogPath:   os.Getenv("REJECTLOG_LOG"),
		OutPath:   os.Getenv("REJECTLOG_OUT"),
		StatePath: os.Getenv("REJECTLOG_STATE"),
		Poll:      5 * time.Millisecond,
		Parser:    NewParser(Options{Location: time.UTC}),
		Logger:    log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "follower:", err)
		return 1
	}
	return 0
}

// logWriter plays syslog and logrotate: it appends numbered rejection lines
// to a log file and rotates it by rename or by copytruncate, compressing
// older generations.
type logWriter struct {
	path string
	f    *os.File
	rng  *rand.Rand
}

func (w *logWriter) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	w.f = f
	return nil
}

// line writes rejection number seq, in one of several formats, sometimes
// in two writes so that the follower sees a partial line, and sometimes
// after a line that is not a rejection.
func (w *logWriter) line(seq int) error {
	now := time.Now().UTC()
	var s string
	switch seq % 3 {
	case 0:
		s = fmt.Sprintf("%s mx1 postfix/smtpd[321]: NOQUEUE: reject: RCPT from unknown[192.0.2.%d]: 554 5.7.1 Service unavailable; Client host [192.0.2.%d] blocked using zen.spamhaus.org; seq %d; %s",
			now.Format("2006-01-02T15:04:05.000000-07:00"), seq%250+1, seq%250+1, seq, smtpdEnv)
	case 1:
		s = fmt.Sprintf("%s H=(helo) [2001:db8::%x]:4711 F=<a@example.net> rejected RCPT <b@example.org>: 2001:db8::%x is listed at zen.spamhaus.org (seq %d)",
			now.Format(time.DateTime), seq, seq, seq)
	default:
		s = fmt.Sprintf("%s mx1 postfix/postscreen[9]: NOQUEUE: reject: RCPT from [198.51.100.%d]:4000: 550 5.7.1 Service unavailable; client [198.51.100.%d] blocked using bl.spamcop.net; seq %d; %s",
			now.Format(time.RFC3339), seq%250+1, seq%250+1, seq, postscreenEnv)
	}
	if w.rng.IntN(4) == 0 {
		s = now.Format(time.RFC3339) + " mx1 postfix/smtpd[321]: connect from unknown[192.0.2.1]\n" + s
	}
	s += "\n"
	if w.rng.IntN(8) == 0 {
		cut := w.rng.IntN(len(s)-1) + 1
		if _, err := w.f.WriteString(s[:cut]); err != nil {
			return err
		}
		time.Sleep(time.Duration(w.rng.IntN(3000)) * time.Microsecond)
		s = s[cut:]
	}
	_, err := w.f.WriteString(s)
	return err
}

// shift renames generation N to N+1, oldest first, and compresses the
// third generation, as logrotate with compress and delaycompress would.
func (w *logWriter) shift() error {
	top := 0
	for n := 1; ; n++ {
		if !exists(fmt.Sprintf("%s.%d", w.path, n)) && !exists(fmt.Sprintf("%s.%d.gz", w.path, n)) {
			break
		}
		top = n
	}
	for n := top; n >= 1; n-- {
		for _, ext := range []string{"", ".gz"} {
			from := fmt.Sprintf("%s.%d%s", w.path, n, ext)
			if exists(from) {
				if err := os.Rename(from, fmt.Sprintf("%s.%d%s", w.path, n+1, ext)); err != nil {
					return err
				}
			}
		}
	}
	third := w.path + ".3"
	if !exists(third) {
		return nil
	}
	b, err := os.ReadFile(third)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	tmp := filepath.Join(filepath.Dir(w.path), "compress.tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, third+".gz"); err != nil {
		return err
	}
	return os.Remove(third)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// rotateRename moves the log to .1 and starts a new file.
func (w *logWriter) rotateRename() error {
	if err := w.shift(); err != nil {
		return err
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	old := w.f
	if err := w.open(); err != nil {
		return err
	}
	return old.Close()
}

// rotateCopytruncate copies the log to .1 and truncates it in place. The
// copy appears complete (written aside, then renamed), and no line is
// written between the copy and the truncation.
func (w *logWriter) rotateCopytruncate() error {
	if err := w.shift(); err != nil {
		return err
	}
	b, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(w.path), "copy.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.path+".1"); err != nil {
		return err
	}
	return w.f.Truncate(0)
}

// follower is the follower process under test.
type followerProc struct {
	t    *testing.T
	env  []string
	logf *os.File
	cmd  *exec.Cmd
}

func (p *followerProc) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.logf, p.logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
}

func (p *followerProc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill() // SIGKILL
	p.cmd.Wait()
	p.cmd = nil
}

// stop asks the follower to finish (SIGTERM) and checks that it exits
// cleanly.
func (p *followerProc) stop() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.cmd = nil
	if err != nil {
		p.t.Errorf("follower exit: %v", err)
	}
}

// outputSeqs reads the sequence numbers from the output file, in order.
func outputSeqs(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var seqs []int
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var r Rejection
		if err := r.UnmarshalJSON([]byte(l)); err != nil {
			return seqs, fmt.Errorf("output line %q: %w", l, err)
		}
		i := strings.Index(r.Reason, "seq ")
		if i < 0 {
			return seqs, fmt.Errorf("no sequence number in %q", l)
		}
		n, err := strconv.Atoi(r.Reason[i+4:])
		if err != nil {
			return seqs, fmt.Errorf("sequence number in %q: %w", l, err)
		}
		seqs = append(seqs, n)
	}
	return seqs, nil
}

func TestFollowerSurvivesKillAndRotation(t *testing.T) {
	total, rotateEvery := 3000, 200
	if testing.Short() {
		total, rotateEvery = 800, 100
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	logPath := filepath.Join(dir, "mail.log")
	out := filepath.Join(dir, "out.jsonl")
	state := filepath.Join(dir, "state.json")
	logf, err := os.Create(filepath.Join(dir, "follower.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	proc := &followerProc{t: t, logf: logf, env: []string{
		"REJECTLOG_FOLLOWER=1", "REJECTLOG_LOG=" + logPath, "REJECTLOG_OUT=" + out, "REJECTLOG_STATE=" + state,
	}}
	defer proc.kill()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("follower log (tail):\n%s", b)
		}
	}()

	w := &logWriter{path: logPath, rng: rand.New(rand.NewPCG(seed, 2))}
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	defer func() { w.f.Close() }()
	if err := w.line(0); err != nil {
		t.Fatal(err)
	}
	// Until the first state is saved there is nothing to resume from.
	proc.start()
	for deadline := time.Now().Add(10 * time.Second); !exists(state); {
		if time.Now().After(deadline) {
			t.Fatal("follower saved no state")
		}
		time.Sleep(5 * time.Millisecond)
	}

	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			renames, truncates := 0, 0
			for seq := 1; seq < total; seq++ {
				if err := w.line(seq); err != nil {
					return err
				}
				if seq%rotateEvery == 0 {
					// Alternate, starting randomly, so both kinds happen.
					var err error
					if (seq/rotateEvery+int(seed%2))%2 == 0 {
						err, renames = w.rotateRename(), renames+1
					} else {
						err, truncates = w.rotateCopytruncate(), truncates+1
					}
					if err != nil {
						return fmt.Errorf("rotate: %w", err)
					}
				}
				if seq%2 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			if renames == 0 || truncates == 0 {
				return errors.New("not both kinds of rotation happened")
			}
			return nil
		}()
	}()

	kills := 0
	var writerErr error
killing:
	for {
		select {
		case writerErr = <-writerDone:
			break killing
		case <-time.After(time.Duration(20+rng.IntN(180)) * time.Millisecond):
			proc.kill()
			kills++
			// Sometimes stay down for a while, across rotations.
			if rng.IntN(4) == 0 {
				time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			}
			proc.start()
		}
	}
	if writerErr != nil {
		t.Fatal(writerErr)
	}
	t.Logf("%d lines, %d kills", total, kills)
	defer func() {
		// In this controlled setting the follower never has to guess: any
		// warning (position not found, copy not found) is a failure even
		// if the output happens to be right.
		b, _ := os.ReadFile(logf.Name())
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(l, "\tWARN\t") || strings.Contains(l, "\tERROR\t") {
				t.Errorf("follower: %s", l)
			}
		}
	}()

	// Let the last follower catch up, then stop it.
	var seqs []int
	for deadline := time.Now().Add(15 * time.Second); ; {
		seqs, err = outputSeqs(out)
		if err == nil && len(seqs) >= total {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	proc.stop()
	if seqs, err = outputSeqs(out); err != nil {
		t.Fatal(err)
	}
	for i, n := range seqs {
		if n != i {
			t.Fatalf("output line %d holds sequence number %d (of %d lines; %s)", i, n, len(seqs), around(seqs, i))
		}
	}
	if len(seqs) != total {
		t.Fatalf("output has %d rejections, want %d", len(seqs), total)
	}
}

func around(seqs []int, i int) string {
	lo, hi := max(0, i-3), min(len(seqs), i+4)
	return fmt.Sprint("around it: ", seqs[lo:hi])
}
