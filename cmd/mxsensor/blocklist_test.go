package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
)

// blocklistAssoc returns one associations.jsonl line for an IPv6 attempt.
func blocklistAssoc(t *testing.T, at, src, v4 string, score float64, spammer bool, evidence ...string) string {
	t.Helper()
	var ipv4 any
	if v4 != "" {
		ipv4 = map[string]any{"src": v4, "sport": 50000, "first_seen": at, "blocklisted": spammer}
	}
	if evidence == nil {
		evidence = []string{}
	}
	b, err := json.Marshal(map[string]any{"first_seen": at, "src": src, "sport": 40000, "syns": 3, "os_class": "windows",
		"addr_type": "slaac-privacy", "ipv4": ipv4, "score": score, "evidence": evidence, "spammer": spammer})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// blocklistResults writes a results directory with associations.jsonl.
func blocklistResults(t *testing.T, dir string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "associations.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBlocklistCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	blocklistResults(t, dir,
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 3.5, true, "order:rst-roundtrip-gap(+3.0)", "stack:mss(+0.5)"),
		blocklistAssoc(t, "2026-11-27T10:00:00Z", "2001:db8:1:2::11", "192.0.2.1", 0.6, true, "port:shared(+0.6)"),
		blocklistAssoc(t, "2026-11-26T11:00:00Z", "2001:db8:7::1", "198.51.100.1", 0.2, true, "asn:same(+0.2)"),
		blocklistAssoc(t, "2026-11-26T12:00:00Z", "2001:db8:8::1", "", 0, false),
		`{"first_seen": 12`,
	)

	out, errs, err := runCLI(t, "blocklist", "--expire", "0", "--in", dir, "--format", "plain", "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if out != "2001:db8:1:2::/64\n" {
		t.Errorf("plain: %q", out)
	}
	wantFields(t, logged(t, errs, "blocklist built"), map[string]any{"entries": 1, "prefix_len": 64, "spammer_attempts": 2, "bad_lines": 1})
	if n := len(jsonLogs(t, errs)); n != 1 {
		t.Errorf("%d log records, want the summary only:\n%s", n, errs)
	}

	out, _, err = runCLI(t, "blocklist", "--expire", "0", "--in", dir, "--format", "plain", "--prefix", "128", "--min-score", "0.1")
	if err != nil || out != "2001:db8:1:2::10/128\n2001:db8:1:2::11/128\n2001:db8:7::1/128\n" {
		t.Errorf("--prefix 128 --min-score 0.1: %q %v", out, err)
	}
	out, _, err = runCLI(t, "blocklist", "--in", dir, "--format", "json", "--since", "2026-11-27", "--until", "2026-11-28T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"prefix":"2001:db8:1:2::/64","first_seen":"2026-11-27T10:00:00Z","last_seen":"2026-11-27T10:00:00Z","attempts":1,"addresses":1,"ipv4":["192.0.2.1"],"max_score":0.6,"evidence":["port"]}` + "\n"; out != want {
		t.Errorf("json with window:\n%s\nwant\n%s", out, want)
	}

	// The formats mail operators load: a Postfix cidr table and an nft script.
	out, _, err = runCLI(t, "blocklist", "--in", dir, "--format", "postfix")
	if err != nil || !strings.Contains(out, "\n2001:db8:1:2::/64 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.1; 2 attempts since 2026-11-26; evidence order,port,stack\n") {
		t.Errorf("postfix: %q %v", out, err)
	}
	out, _, err = runCLI(t, "blocklist", "--in", dir, "--format", "nft")
	if err != nil || !strings.Contains(out, "\nflush set inet mxsensor spammers6\nadd element inet mxsensor spammers6 {\n\t2001:db8:1:2::/64,\n}\n") {
		t.Errorf("nft: %q %v", out, err)
	}

	// --out: the file, no stdout, no temporary left behind.
	outFile := filepath.Join(t.TempDir(), "bl6.zone")
	if err := os.WriteFile(outFile, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "blocklist", "--expire", "0", "--in", dir, "--out", outFile)
	if err != nil || out != "" {
		t.Fatalf("--out: %q %v", out, err)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# parameters: prefix /64, min-score 0.5, since -, until -\n",
		"\n:127.0.0.2:mxsensor: spam\n",
		"\n::ffff:7f00:2 :127.0.0.2:RFC 5782 test point\n",
		"\n2001:db8:1:2::/64 :127.0.0.2:mxsensor: spam via IPv4 192.0.2.1; 2 attempts since 2026-11-26; evidence order,port,stack\n",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("rbldnsd file lacks %q:\n%s", want, data)
		}
	}
	if fi, err := os.Stat(outFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(outFile)); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
	}

	for _, args := range [][]string{
		{"blocklist"},
		{"blocklist", "--in", t.TempDir()},
		{"blocklist", "--in", dir, "--format", "bind"},
		{"blocklist", "--in", dir, "--prefix", "24"},
		{"blocklist", "--in", dir, "--prefix", "129"},
		{"blocklist", "--in", dir, "--since", "yesterday"},
		{"blocklist", "--in", dir, "--since", "2026-11-28", "--until", "2026-11-27"},
		{"blocklist", "--in", dir, "--out", filepath.Join(t.TempDir(), "no", "such", "dir")},
	} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		} else {
			t.Logf("%v: %v", args, err)
		}
	}
}

// hugeJSONLine is a 2 MiB JSON line, over record.MaxLine: a record with a
// runaway evidence string.
func hugeJSONLine() string {
	return `{"first_seen":"2026-11-26T10:30:00Z","src":"2001:db8:9::1","evidence":["` + strings.Repeat("e", 2<<20) + `"]}`
}

// A line over 1 MiB in associations.jsonl is skipped and counted; the
// list is built from the other lines.
func TestBlocklistOverlongLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	blocklistResults(t, dir,
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:1:2::10", "192.0.2.1", 3.5, true, "order:rst-roundtrip-gap(+3.0)"),
		hugeJSONLine(),
		blocklistAssoc(t, "2026-11-26T11:00:00Z", "2001:db8:3:4::10", "192.0.2.2", 3.5, true, "order:rst-roundtrip-gap(+3.0)"),
	)
	out, errs, err := runCLI(t, "blocklist", "--expire", "0", "--in", dir, "--format", "plain", "--log-format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	if out != "2001:db8:1:2::/64\n2001:db8:3:4::/64\n" {
		t.Errorf("plain: %q", out)
	}
	sum := logged(t, errs, "blocklist built")
	wantFields(t, sum, map[string]any{"lines": 3, "bad_lines": 1, "too_long": 1})
	if first, _ := sum["first_bad"].(string); !strings.Contains(first, "line 2: line too long") {
		t.Errorf("first bad line: %q", first)
	}
}

// sharedListServer starts a NATS server holding the fleet's shared list
// with entries (and one value that does not decode); it returns the
// server's URL and the bucket, to write more.
func sharedListServer(t *testing.T, entries ...blocklist.Entry) (string, jetstream.KeyValue) {
	t.Helper()
	n := fleettest.Start(t)
	js := fleettest.Connect(t, "collector", n.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := fleet.EnsureList(ctx, js, fleet.ListConfig{Expire: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		sharedListPut(t, kv, e)
	}
	if _, err := kv.Put(ctx, fleet.PrefixKey(netip.MustParsePrefix("2001:db8:bad::/64")), []byte(`{"prefix":`)); err != nil {
		t.Fatal(err)
	}
	return n.URL(), kv
}

func sharedListPut(t *testing.T, kv jetstream.KeyValue, e blocklist.Entry) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kv.Put(ctx, fleet.PrefixKey(e.Prefix), b); err != nil {
		t.Fatal(err)
	}
}

// sharedEntry is an entry of the fleet's list.
func sharedEntry(prefix string, sensors ...string) blocklist.Entry {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return blocklist.Entry{Prefix: netip.MustParsePrefix(prefix), FirstSeen: at, LastSeen: at.Add(time.Hour), Attempts: 3, Addresses: 2,
		IPv4: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, MaxScore: 3.5, Evidence: []string{"order"}, Sensors: sensors, FirstListed: at.Add(time.Minute)}
}

// TestBlocklistNATS: blocklist --nats exports the fleet's shared list in
// each format, skipping (and counting) a value that does not decode.
func TestBlocklistNATS(t *testing.T) {
	url, _ := sharedListServer(t, sharedEntry("2001:db8:2::/64", "s1", "s3"), sharedEntry("2001:db8:1::/64", "s2"))

	out, errs, err := runCLI(t, "blocklist", "--expire", "0", "--nats", url, "--format", "json", "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"prefix":"2001:db8:1::/64","first_seen":"2026-11-26T10:00:00Z","last_seen":"2026-11-26T11:00:00Z","attempts":3,"addresses":2,"ipv4":["192.0.2.1"],"max_score":3.5,"evidence":["order"],"sensors":["s2"],"first_listed":"2026-11-26T10:01:00Z"}
{"prefix":"2001:db8:2::/64","first_seen":"2026-11-26T10:00:00Z","last_seen":"2026-11-26T11:00:00Z","attempts":3,"addresses":2,"ipv4":["192.0.2.1"],"max_score":3.5,"evidence":["order"],"sensors":["s1","s3"],"first_listed":"2026-11-26T10:01:00Z"}
`
	if out != want {
		t.Errorf("json:\n%s\nwant\n%s", out, want)
	}
	wantFields(t, logged(t, errs, "blocklist built"), map[string]any{"entries": 2, "prefix_len": 64, "spammer_attempts": 6, "bad_lines": 1})

	out, _, err = runCLI(t, "blocklist", "--expire", "0", "--nats", url, "--format", "plain")
	if err != nil || out != "2001:db8:1::/64\n2001:db8:2::/64\n" {
		t.Errorf("plain: %q %v", out, err)
	}
	out, _, err = runCLI(t, "blocklist", "--expire", "0", "--nats", url)
	if err != nil || !strings.Contains(out, "2001:db8:1::/64 :127.0.0.2:mxsensor: spam via IPv4 ") {
		t.Errorf("rbldnsd: %q %v", out, err)
	}
	for _, args := range [][]string{
		{"--nats", url, "--in", t.TempDir()},
		{"--nats", url, "--prefix", "48"},
		{"--nats", url, "--nats-user", "u", "--nats-creds", "c"},
		{"--nats", "127.0.0.1:4222"},
	} {
		if _, _, err := runCLI(t, append([]string{"blocklist"}, args...)...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestBlocklistPolicy: --expire judged at --until (one second before and
// after), --allowlist with what it kept out in the summary, --widen-at and
// --widen-to, and their errors.
func TestBlocklistPolicy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	blocklistResults(t, dir,
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:5:1::10", "192.0.2.1", 3.5, true, "order:x(+3)"),
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:5:2::10", "192.0.2.2", 3.5, true, "stack:y(+1)"),
		blocklistAssoc(t, "2026-11-26T10:00:00Z", "2001:db8:6:1::10", "192.0.2.3", 3.5, true, "order:x(+3)"),
	)
	for until, want := range map[string]string{
		"2026-11-27T09:59:59Z": "2001:db8:5:1::/64\n2001:db8:5:2::/64\n2001:db8:6:1::/64\n",
		"2026-11-27T10:00:01Z": "",
	} {
		out, errs, err := runCLI(t, "blocklist", "--in", dir, "--format", "plain", "--expire", "24h", "--until", until, "--log-format", "json")
		if err != nil || out != want {
			t.Errorf("--until %s: %q %v", until, out, err)
		}
		if want == "" {
			wantFields(t, logged(t, errs, "blocklist built"), map[string]any{"entries": 0, "expired": 3})
		}
	}

	allow := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(allow, []byte("# our own\n2001:db8:6::/48\n"), 0o644)
	out, errs, err := runCLI(t, "blocklist", "--in", dir, "--format", "json", "--expire", "0", "--allowlist", allow, "--widen-at", "2", "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var e blocklist.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Prefix.String() != "2001:db8:5::/48" || e.WidenedFrom != 2 || e.Attempts != 2 ||
		!slices.Equal(e.Evidence, []string{"order", "stack"}) {
		t.Errorf("widened with 2001:db8:6::/48 allowlisted: %s (%v)", out, err)
	}
	wantFields(t, logged(t, errs, "blocklist built"), map[string]any{"entries": 1, "allowlisted": 1, "widened": 1, "widened_from": 2})
	// The file says what the policy did too.
	out, _, err = runCLI(t, "blocklist", "--in", dir, "--format", "rbldnsd", "--expire", "0", "--allowlist", allow, "--widen-at", "2")
	if want := "# policy: 0 entries expired, 1 kept out by the allowlist, 1 wider prefixes listed for 2 prefixes\n"; err != nil || !strings.Contains(out, want) {
		t.Errorf("rbldnsd header: want %q in\n%s (%v)", want, out, err)
	}

	os.WriteFile(allow, []byte("2001:db8:6::/48\nour mail servers\n"), 0o644)
	for args, want := range map[string]string{
		"--allowlist " + allow: allow + `:2: "our mail servers" is not a prefix or an address`,
		"--widen-to 40":        "--widen-to 40: want 48 or 56",
		"--widen-at -1":        "--widen-at -1: must not be negative",
	} {
		_, _, err := runCLI(t, append([]string{"blocklist", "--in", dir}, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}
