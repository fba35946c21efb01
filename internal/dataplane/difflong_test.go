package dataplane

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/atomicfile"
)

// longBatch is the unit of a long differential run: its frames follow from
// the run's seed and the batch's number alone, so a run stopped after a
// batch resumes at the next one and meets the same frames.
const longBatch = 10_000

// longState is what `make fuzz-long` keeps between runs (MXS_FUZZ_LONG_STATE).
type longState struct {
	Seed          uint64  `json:"seed"`
	Frames        int     `json:"frames"`     // the run's target
	NextBatch     int     `json:"next_batch"` // the first batch not run yet
	Ran           int     `json:"ran"`        // frames both parsers ran
	Skipped       int     `json:"skipped"`    // frames generated of sizes BPF_PROG_TEST_RUN refuses (replaced)
	Disagreements int     `json:"disagreements"`
	Aborted       int     `json:"aborted"` // XDP_ABORTED verdicts
	Seconds       float64 `json:"seconds"`
}

func (s *longState) batches() int { return (s.Frames + longBatch - 1) / longBatch }

// loadLongState reads the state at path; a missing or finished one (or one
// of another target) starts a new run with a fresh seed.
func loadLongState(t *testing.T, path string, frames int) longState {
	fresh := longState{Seed: uint64(time.Now().UnixNano()), Frames: frames}
	if path == "" {
		return fresh
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fresh
	}
	if err != nil {
		t.Fatal(err)
	}
	var s longState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v (remove it to start anew)", path, err)
	}
	if s.Frames != frames || s.NextBatch >= s.batches() {
		t.Logf("%s: the run of seed %d is complete (%d frames, %d disagreements, %d XDP_ABORTED): starting a new one", path, s.Seed, s.Ran, s.Disagreements, s.Aborted)
		return fresh
	}
	t.Logf("%s: resuming the run of seed %d at batch %d of %d", path, s.Seed, s.NextBatch, s.batches())
	return s
}

func saveLongState(t *testing.T, path string, s longState) {
	if path == "" {
		return
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDifferentialLong is `make fuzz-long`: the kernel program against the
// Go reference on MXS_FUZZ_LONG_FRAMES generated and mutated frames (one
// BPF_PROG_TEST_RUN each, in batches of 10,000, the configurations taking
// turns), for at most MXS_FUZZ_LONG_TIME, keeping its progress in
// MXS_FUZZ_LONG_STATE to resume. Any disagreement or XDP_ABORTED fails it.
// Without MXS_FUZZ_LONG_FRAMES it is skipped: TestDifferentialLongResumes
// runs the same path, short, in `make test`.
func TestDifferentialLong(t *testing.T) {
	frames, err := strconv.Atoi(os.Getenv("MXS_FUZZ_LONG_FRAMES"))
	if err != nil || frames <= 0 {
		t.Skip("MXS_FUZZ_LONG_FRAMES not set: the long run is `make fuzz-long`")
	}
	budget := time.Duration(0)
	if v := os.Getenv("MXS_FUZZ_LONG_TIME"); v != "" {
		if budget, err = time.ParseDuration(v); err != nil {
			t.Fatalf("MXS_FUZZ_LONG_TIME: %v", err)
		}
	}
	runLong(t, os.Getenv("MXS_FUZZ_LONG_STATE"), frames, budget, 0)
}

// TestDifferentialLongResumes runs 20,000 frames of the long run in two
// goes: stopped after its first batch, it resumes at the second with the
// same seed, and a finished run is followed by a new one.
func TestDifferentialLongResumes(t *testing.T) {
	state := filepath.Join(t.TempDir(), "fuzz-long.json")
	first := runLong(t, state, 20_000, 0, 1)
	if first.NextBatch != 1 || first.Ran != longBatch {
		t.Fatalf("after one batch: %+v", first)
	}
	second := runLong(t, state, 20_000, 0, 0)
	if second.Seed != first.Seed || second.NextBatch != 2 || second.Ran != 20_000 {
		t.Fatalf("resumed: %+v after %+v", second, first)
	}
	if again := loadLongState(t, state, 20_000); again.NextBatch != 0 || again.Ran != 0 {
		t.Fatalf("a finished run was resumed: %+v", again)
	}
}

// runLong runs the batches of the state at statePath ("" = none kept)
// until the target, the time budget (0 = none) or maxBatches batches (0 =
// no limit), and returns the state reached.
func runLong(t *testing.T, statePath string, frames int, budget time.Duration, maxBatches int) longState {
	s := loadLongState(t, statePath, frames)
	seeds := diffSeeds()
	cfgs := diffConfigs()
	differs := make([]*differ, len(cfgs))
	begin := time.Now()
	elapsed := s.Seconds
	for ran := 0; s.NextBatch < s.batches(); ran++ {
		if maxBatches > 0 && ran == maxBatches {
			break
		}
		if budget > 0 && time.Since(begin) >= budget {
			t.Logf("time budget %v spent: stopped before batch %d of %d; `make fuzz-long` resumes", budget, s.NextBatch, s.batches())
			break
		}
		ci := s.NextBatch % len(cfgs)
		if differs[ci] == nil {
			differs[ci] = newDiffer(t, cfgs[ci])
		}
		d := differs[ci]
		r := rand.New(rand.NewPCG(s.Seed, uint64(s.NextBatch)))
		n := min(longBatch, s.Frames-s.NextBatch*longBatch)
		ranBefore, abortedBefore := d.n, d.aborted
		// Until n frames ran: those of sizes BPF_PROG_TEST_RUN refuses
		// (cut below 14 bytes) are counted and replaced.
		generated := 0
		for ; d.n-ranBefore < n && generated < 2*n; generated++ {
			f := diffFrame(r, seeds, s.NextBatch*longBatch+generated)
			if !d.check(f) {
				s.Disagreements++
				if s.Disagreements <= 20 {
					t.Logf("reproduce: seed %d, batch %d, frame %d: %s", s.Seed, s.NextBatch, generated, hex.EncodeToString(f))
				}
			}
		}
		s.Ran += d.n - ranBefore
		s.Skipped += generated - (d.n - ranBefore)
		s.Aborted += d.aborted - abortedBefore
		s.Seconds = elapsed + time.Since(begin).Seconds()
		s.NextBatch++
		saveLongState(t, statePath, s)
		if s.Disagreements >= 100 {
			t.Errorf("stopping: %d disagreements", s.Disagreements)
			break
		}
	}
	for _, d := range differs {
		if d != nil {
			d.finish()
		}
	}
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.Ran) / s.Seconds
	}
	t.Logf("seed %d: %d of %d frames run (%d more generated of sizes BPF_PROG_TEST_RUN refuses), batch %d of %d, %.0f frames/s; disagreements %d, XDP_ABORTED %d",
		s.Seed, s.Ran, s.Frames, s.Skipped, s.NextBatch, s.batches(), rate, s.Disagreements, s.Aborted)
	if s.Disagreements > 0 || s.Aborted > 0 {
		t.Errorf("%d disagreements, %d XDP_ABORTED (want 0)", s.Disagreements, s.Aborted)
	}
	return s
}
