package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
	"github.com/mxsensor/mxsensor/internal/record"
)

// proc is a subprocess of the test, killed and reaped at the test's end
// if it is still running.
type proc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if p.err = p.cmd.Start(); p.err != nil {
		t.Error(p.err) // from the test's goroutines: no Fatal
		close(p.done)
		return p
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL (if it still runs) and waits for the process.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// killAfter kills p after d unless it exits first; it says whether p was
// killed.
func (p *proc) killAfter(d time.Duration) bool {
	select {
	case <-p.done:
		return false
	case <-time.After(d):
	}
	p.kill()
	var ee *exec.ExitError
	return errors.As(p.err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

// fileKeys counts the records of a sensor's attempts.jsonl and
// associations.jsonl by key.
func fileKeys(t *testing.T, out string) fleettest.Keys {
	t.Helper()
	k := fleettest.Keys{}
	for name, scan := range map[string]func(*os.File) error{
		record.AttemptsFile: func(f *os.File) error {
			_, err := record.ScanAttempts(f, record.Window{}, func(a *record.Attempt) error { k.AddAttempt(a); return nil })
			return err
		},
		record.AssociationsFile: func(f *os.File) error {
			_, err := record.ScanAssociations(f, record.Window{}, func(a *record.Association) error { k.AddAssociation(a); return nil })
			return err
		},
	} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		err = scan(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// TestFleetKill9: `analyze --publish --db` and `collect --nats` are each
// killed with SIGKILL at random points and started again, at the same
// time, against a server in the test process; the sensor is rerun until
// it exits 0 (its outbox persists, and a rerun enqueues the same msg ids),
// the collector ends with --exit-idle. The collector's store then holds
// every record of the sensor's files and store exactly once.
func TestFleetKill9(t *testing.T) {
	start := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenario")
	if out, err := exec.Command("go", "run", "../../tools/genscenario", "-seed", "16", "-hosts", "800", "-duration", "30m",
		"-out", scen).CombinedOutput(); err != nil {
		t.Fatalf("genscenario: %v\n%s", err, out)
	}
	srv, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d; built and generated in %v", seed, time.Since(start).Round(time.Millisecond))
	out, outbox, cdb := filepath.Join(dir, "out"), filepath.Join(dir, "sensor.db"), filepath.Join(dir, "c.db")
	analyze := []string{"analyze", "--pcap", filepath.Join(scen, "syns.pcap"), "--reject-log", filepath.Join(scen, "mail.log"),
		"--tz", "UTC", "--out", out, "--p0f-db", "", "--no-report", "--log-format", "json", "--sensor-id", "s1",
		"--publish", srv.URL(), "--db", outbox, "--publish-timeout", "30s"}
	collect := []string{"collect", "--db", cdb, "--nats", srv.URL(), "--metrics-listen", "", "--log-format", "json"}
	const kills = 4

	var wg sync.WaitGroup
	sensorDone := make(chan struct{})
	var sensorKilled, collectorKilled int
	wg.Add(2)
	go func() { // the sensor: killed at random points, rerun until it exits 0
		defer wg.Done()
		defer close(sensorDone)
		rng := rand.New(rand.NewPCG(seed, 1))
		for run := 0; ; run++ {
			p := startProc(t, bin, analyze...)
			if run < kills && p.killAfter(time.Duration(rng.IntN(600))*time.Millisecond) {
				sensorKilled++
				continue
			}
			<-p.done
			if p.err != nil {
				t.Errorf("analyze, run %d: %v\n%s", run, p.err, p.out.Bytes())
			}
			return
		}
	}()
	go func() { // the collector: killed at random points, then run until idle
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 2))
		for range kills {
			if startProc(t, bin, collect...).killAfter(time.Duration(100+rng.IntN(700)) * time.Millisecond) {
				collectorKilled++
			}
		}
		<-sensorDone
		p := startProc(t, bin, append(collect, "--exit-idle", "3s")...)
		<-p.done
		if p.err != nil {
			t.Errorf("collect --exit-idle: %v\n%s", p.err, p.out.Bytes())
		}
	}()
	wg.Wait()
	t.Logf("sensor killed %d times, collector %d times; %v", sensorKilled, collectorKilled, time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	sensor := fleettest.StoredKeys(t, outbox, "")
	files := fileKeys(t, out)
	fleettest.Compare(t, "the sensor's store against its files", sensor.Only(fleet.KindAttempt, fleet.KindAssociation), files)
	fleettest.Compare(t, "the collector's store", fleettest.StoredKeys(t, cdb, "s1"), sensor)
	t.Logf("%d attempts, %d associations, %d rejections", sensor.Count(fleet.KindAttempt), sensor.Count(fleet.KindAssociation),
		sensor.Count(fleet.KindRejection))
	if sensor.Count(fleet.KindRejection) == 0 || sensor.Count(fleet.KindAssociation) == 0 {
		t.Error("the scenario gave no rejection or no association")
	}
}
