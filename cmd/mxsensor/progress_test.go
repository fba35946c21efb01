package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPty returns a pseudo-terminal's two ends: what is written to tty
// can be read from master.
func openPty(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// runWithStderr runs the CLI with stderr the file errf, and returns
// stdout and what was written to stderr (read by readErr).
func runWithStderr(t *testing.T, errf *os.File, readErr func() string, args ...string) (string, string) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(errf)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, readErr())
	}
	return out.String(), readErr()
}

// TestProgressBarOnlyOnTerminal: read and analyze draw a bar on a terminal
// (a pseudo-terminal here), none when stderr is a file or with --quiet, and
// what they write to stdout and --out is the same in every case.
func TestProgressBarOnlyOnTerminal(t *testing.T) {
	const capture = "../../testdata/syns.pcap"
	master, tty := openPty(t)
	var fromTTY bytes.Buffer
	drained := make(chan struct{})
	go func() { io.Copy(&fromTTY, master); close(drained) }()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	fromFile := func() string {
		b, _ := os.ReadFile(file.Name())
		file.Truncate(0)
		file.Seek(0, io.SeekStart)
		return string(b)
	}
	noBar := func(name, errs string) {
		if strings.Contains(errs, "\r") || strings.Contains(errs, "\033[K") || strings.Contains(errs, "%") {
			t.Errorf("%s: a bar on stderr: %q", name, errs)
		}
	}

	// read: stdout is a buffer, not the terminal, so the bar may be drawn.
	outFile, errs := runWithStderr(t, file, fromFile, "read", capture)
	noBar("read, stderr a file", errs)
	if !strings.Contains(errs, "capture read") {
		t.Errorf("read: no log on stderr: %q", errs)
	}
	outTTY, _ := runWithStderr(t, tty, func() string { return "" }, "read", capture)
	outQuiet, _ := runWithStderr(t, file, fromFile, "read", capture, "--quiet")
	if outFile == "" || outTTY != outFile || outQuiet != outFile {
		t.Errorf("read's stdout differs: file %d bytes, terminal %d, quiet %d", len(outFile), len(outTTY), len(outQuiet))
	}

	dirs := map[string]string{}
	for _, run := range []struct {
		name string
		errf *os.File
		args []string
	}{{"file", file, nil}, {"terminal", tty, nil}, {"quiet", tty, []string{"--quiet"}}} {
		dir := filepath.Join(t.TempDir(), run.name)
		args := append([]string{"analyze", "--pcap", capture, "--out", dir, "--p0f-db", "", "--no-report"}, run.args...)
		_, errs := runWithStderr(t, run.errf, fromFile, args...)
		if run.errf == file {
			noBar("analyze, stderr a file", errs)
		}
		dirs[run.name] = dir
	}
	for _, name := range []string{"attempts.jsonl", "associations.jsonl"} {
		want, err := os.ReadFile(filepath.Join(dirs["file"], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, run := range []string{"terminal", "quiet"} {
			if got, _ := os.ReadFile(filepath.Join(dirs[run], name)); !bytes.Equal(got, want) {
				t.Errorf("analyze on a %s: %s differs", run, name)
			}
		}
	}

	tty.Close()
	<-drained
	// On the terminal: one bar line per command run without --quiet,
	// ended at 100%; log lines clear the bar before they are written.
	term := fromTTY.String()
	for _, label := range []string{"read [", "analyze ["} {
		if !strings.Contains(term, "\r"+label) {
			t.Errorf("no %q bar on the terminal: %q", label, term)
		}
	}
	if n := strings.Count(term, "100% "); n < 2 {
		t.Errorf("%d final lines at 100%%: %q", n, term)
	}
	// read logs "capture read" while its bar is drawn.
	if i := strings.Index(term, "capture read"); i < 0 || !strings.Contains(term[:i], "\r\033[K2") {
		t.Errorf("a log line not written on a cleared line: %q", term)
	}
}
