package dataplane

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// threadsCapEff is the CapEff line of every thread of this process.
func threadsCapEff(t *testing.T) map[string]string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%s/status", task.Name()))
		if err != nil {
			continue // the thread has exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				m[task.Name()] = strings.TrimSpace(v)
			}
		}
	}
	return m
}

// When the maps cannot be read without the capabilities (an older kernel),
// the probe sees them lowered on its thread, the drop is refused with
// ErrCapsNeeded, and every thread holds them as before. (The drop itself
// is irreversible, so TestRunHardened checks it, in the agent.)
func TestDropAttachCapabilitiesKeepsWhatIsNeeded(t *testing.T) {
	requireBPF(t)
	before := threadsCapEff(t)
	probed := false
	refuse := errors.New("operation not permitted")
	dropped, err := DropAttachCapabilities(func() error {
		c, err := getCaps()
		if err != nil {
			return err
		}
		probed = true
		if c.held() {
			t.Error("the probe ran with the attach capabilities effective")
		}
		return refuse
	})
	if dropped || !errors.Is(err, ErrCapsNeeded) || !errors.Is(err, refuse) {
		t.Fatalf("dropped %v, err %v; want kept with ErrCapsNeeded", dropped, err)
	}
	if !probed {
		t.Fatal("the probe did not run")
	}
	c, err := getCaps()
	if err != nil {
		t.Fatal(err)
	}
	if !c.held() {
		t.Fatal("this thread lost the capabilities")
	}
	for tid, eff := range threadsCapEff(t) {
		if was, ok := before[tid]; ok && eff != was {
			t.Errorf("thread %s: CapEff %s, was %s", tid, eff, was)
		}
	}
}
