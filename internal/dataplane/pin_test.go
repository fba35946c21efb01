package dataplane

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A zombie (exited, not reaped by its parent) is dead though kill(pid, 0)
// still finds it; a live process is alive, unless it started after the
// sensor did (its pid was reused).
func TestProcessAlive(t *testing.T) {
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	pid := cmd.Process.Pid
	// Wait for the exit without reaping it: the child stays a zombie.
	var si unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &si, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("kill(zombie, 0) = %v: the test needs a zombie that kill still finds", err)
	}
	if processAlive(pid, time.Now()) {
		t.Error("a zombie is alive")
	}
	if processAlive(pid, time.Time{}) {
		t.Error("a zombie is alive (no start time)")
	}

	self := os.Getpid()
	if !processAlive(self, time.Now()) || !processAlive(self, time.Time{}) || !processAlive(self, time.Unix(0, 0)) {
		t.Error("the test process is not alive")
	}
	if processAlive(self, time.Now().Add(-time.Hour)) {
		t.Error("a process that started an hour after the sensor passes for it (pid reuse)")
	}
	if processAlive(0, time.Now()) || processAlive(-1, time.Now()) {
		t.Error("pid 0 or -1 is alive")
	}
}
