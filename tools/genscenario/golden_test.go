package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPresetsUnchanged pins the output of the original presets: new mix
// knobs must not change their random draws (measurements made on them stay
// reproducible). After an intended change, print the new sums with -v and
// update them here.
func TestPresetsUnchanged(t *testing.T) {
	want := map[string][3]string{
		"default":       {"2091feaa68943955d23ac8ac0012f75739038ffac057f8675079e432025391db", "755b5f6d94e5cb25148c4697b27ae41f43e431f359260047e9f7933b19a4118e", "bc9bd6f0cdd5fd2e4be0863b0a10d35f5835b443950f768e2ec342cb7e334e39"},
		"hard":          {"41ec71de7b7263ad5510326ad9ee6ab9823ab964557e20c7902d0200f2cfc228", "84ed8d9d4837c43308dd3ac01f31d4ff6175a8847e8d999d3720009e7140bf5b", "f37434d977e481f918c85dc4b22979efadb303060396dba6d56d343ce044a732"},
		"windows-heavy": {"f791df8e11de251a7ba1e8ce2ef532263c6dc3ab497f7788bbf41cb4a0861a37", "dee071010e4eed6399c8548d14a82307b8443150b5a1a6f0c76dcaed91a13b2f", "16d09573f6b97a6d0a2240b77ebd850cd142fb3339f2ac64371bfe5d73844a2a"},
		"6to4-heavy":    {"e9b0f04ca70ce2cd130604af34b3688a712fdec4f3942b836eb2751d8ba05592", "a1b01cd1adfe7a738e54a80979894824efa139e1db57c65ce2cbe4fa1d94c70c", "846b93428d40f61a0e6802f47a99090489f77647f64e0c51c87ba205d1501f70"},
	}
	for m, sums := range want {
		t.Run(m, func(t *testing.T) {
			dir, _ := gen(t, m, 3, 400, 20*time.Minute)
			for i, name := range []string{"syns.pcap", "mail.log", "truth.jsonl"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				s := sha256.Sum256(b)
				got := hex.EncodeToString(s[:])
				t.Logf("%s %s %s", m, name, got)
				if got != sums[i] {
					t.Errorf("%s: sha256 %s, want %s", name, got, sums[i])
				}
			}
		})
	}
}
