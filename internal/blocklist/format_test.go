package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realProgram returns the path of a program the tests run (Debian puts
// postmap and nft in /usr/sbin, not on every user's PATH). Without it the
// test skips, saying why, except under CI=true, where it fails: make
// deps-test installs pkg.
func realProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := "/usr/sbin/" + name
	_, err := os.Stat(p)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is missing (make deps-test installs Debian's %s): %v", name, pkg, err)
	}
	t.Skipf("skipping: needs %s (apt-get install %s): %v", name, pkg, err)
	return ""
}

// needRoot skips a test that needs CAP_NET_ADMIN unless it runs as root,
// or fails it under CI=true.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but not root: %s needs CAP_NET_ADMIN", why)
	}
	t.Skipf("skipping: %s needs CAP_NET_ADMIN (run as root)", why)
}

// entry returns a listed entry of prefix p with one attempt on day.
func entry(p string, ipv4 ...string) Entry {
	e := Entry{Prefix: netip.MustParsePrefix(p), FirstSeen: genTime, LastSeen: genTime, Attempts: 1, Addresses: 1,
		MaxScore: 1, Evidence: []string{"order"}}
	for _, a := range ipv4 {
		e.IPv4 = append(e.IPv4, netip.MustParseAddr(a))
	}
	return e
}

// overlapping is a list with a /48, a /64 inside it, the /64 again as a
// single address inside it, an adjacent /64 pair and a Teredo address.
func overlapping() *List {
	l := &List{Options: DefaultOptions(), Entries: []Entry{
		entry("2001:db8:5::/48", "192.0.2.48"),
		entry("2001:db8:5:7::/64", "192.0.2.64"),
		entry("2001:db8:5:7::25/128", "192.0.2.128"),
		entry("2001:db8:1:2::/64", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
		entry("2001:db8:1:3::/64"),
		entry("2001:0:4136:e378:8000:63bf:3fff:fdd2/128", "192.0.2.45"),
	}}
	SortEntries(l.Entries)
	return l
}

// manyEntries returns a list of n /64s, in runs of adjacent ones.
func manyEntries(n int) *List {
	l := &List{Options: DefaultOptions()}
	for i := range n {
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 0}), 64)
		l.Entries = append(l.Entries, Entry{Prefix: p, FirstSeen: genTime, LastSeen: genTime, Attempts: 1, Evidence: []string{}})
	}
	return l
}

func writeString(t *testing.T, l *List, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, l, f, genTime); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func writeFile(t *testing.T, l *List, f Format, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(writeString(t, l, f)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const header = `# mxsensor blocklist: IPv6 prefixes from which connect() attempts labelled spammer were seen
# %s
# generated 2026-11-27T08:00:00Z
# parameters: prefix /64, min-score 0.5, since -, until -
# 6 entries from 0 spammer attempts; 0 lines read, 0 bad lines skipped, 0 outside the window, 0 spammer attempts under the score, 0 not listable
`

// The Postfix table: one line per entry, the narrowest prefixes first
// (Postfix takes the first match).
func TestBlocklistPostfixFormat(t *testing.T) {
	got := writeString(t, overlapping(), FormatPostfix)
	want := fmt.Sprintf(header, "Postfix cidr table, e.g. smtpd_client_restrictions = check_client_access cidr:FILE") +
		`2001:0:4136:e378:8000:63bf:3fff:fdd2/128 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.45; 1 attempt since 2026-11-27; evidence order
2001:db8:5:7::25/128 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.128; 1 attempt since 2026-11-27; evidence order
2001:db8:1:2::/64 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.1 (+2); 1 attempt since 2026-11-27; evidence order
2001:db8:1:3::/64 REJECT 5.7.1 listed by mxsensor: spam; 1 attempt since 2026-11-27; evidence order
2001:db8:5:7::/64 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.64; 1 attempt since 2026-11-27; evidence order
2001:db8:5::/48 REJECT 5.7.1 listed by mxsensor: spam via IPv4 192.0.2.48; 1 attempt since 2026-11-27; evidence order
`
	if got != want {
		t.Errorf("postfix:\n%s\nwant:\n%s", got, want)
	}
	// However long the reason, the action stays one bounded line.
	e := entry("2001:db8:9::/64")
	e.Evidence = []string{strings.Repeat("e\n", 400)}
	if a := PostfixAction(e); len(a) > 300 || strings.ContainsAny(a, "\n\r") {
		t.Errorf("action %d bytes %q", len(a), a)
	}
}

// Postfix itself answers from the table: the action of the narrowest
// listed prefix holding the address, nothing for an address outside.
func TestBlocklistPostfixPostmap(t *testing.T) {
	postmap := realProgram(t, "postmap", "postfix")
	table := writeFile(t, overlapping(), FormatPostfix, "bl6.cidr")
	// postmap reads main.cf (an empty one takes the defaults), and waits
	// while one was modified in the last second: date it back.
	conf := t.TempDir()
	mainCf := filepath.Join(conf, "main.cf")
	old := time.Now().Add(-time.Hour)
	if err := os.WriteFile(mainCf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(mainCf, old, old); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ addr, want string }{
		{"2001:db8:1:2:a:b:c:d", "192.0.2.1 (+2);"},
		{"2001:db8:1:3::1", "listed by mxsensor: spam; 1 attempt"},
		{"2001:db8:5:7::1", "192.0.2.64;"},
		{"2001:db8:5:7::25", "192.0.2.128;"},
		{"2001:db8:5:8::1", "192.0.2.48;"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45;"},
		{"2001:db8:1:4::1", ""},
		{"2001:db8:6::1", ""},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd3", ""},
		{"192.0.2.1", ""},
	}
	// One run for all addresses: "postmap -q -" reads keys on stdin and
	// prints "KEY<tab>VALUE" for those found.
	var keys strings.Builder
	for _, c := range cases {
		keys.WriteString(c.addr + "\n")
	}
	cmd := exec.Command(postmap, "-c", conf, "-q", "-", "cidr:"+table)
	cmd.Stdin = strings.NewReader(keys.String())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: some key not found
		t.Fatalf("postmap -q -: %v\n%s", err, out)
	}
	found := make(map[string]string)
	for line := range strings.Lines(string(out)) {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			t.Fatalf("postmap -q -: line %q\n%s", line, out)
		}
		found[k] = v
	}
	for _, c := range cases {
		v, ok := found[c.addr]
		if c.want == "" && ok || c.want != "" && !(strings.HasPrefix(v, "REJECT 5.7.1 listed by mxsensor: ") && strings.Contains(v, c.want)) {
			t.Errorf("postmap -q %s: %q (found %v), want %q", c.addr, v, ok, c.want)
		}
	}
}

// The nft script: the table and set made if missing, the set flushed, the
// prefixes added without overlaps; an empty list adds nothing.
func TestBlocklistNftFormat(t *testing.T) {
	got := writeString(t, overlapping(), FormatNft)
	want := fmt.Sprintf(header, "nftables set, load with nft -f FILE; use it as ip6 saddr @spammers6 in a chain of table inet mxsensor") +
		`# 2 prefixes inside another listed prefix left out (an interval set takes no overlaps)
add table inet mxsensor
add set inet mxsensor spammers6 { type ipv6_addr; flags interval; }
flush set inet mxsensor spammers6
add element inet mxsensor spammers6 {
	2001:0:4136:e378:8000:63bf:3fff:fdd2,
	2001:db8:1:2::/64,
	2001:db8:1:3::/64,
	2001:db8:5::/48,
}
`
	if got != want {
		t.Errorf("nft:\n%s\nwant:\n%s", got, want)
	}
	empty := writeString(t, &List{Options: DefaultOptions()}, FormatNft)
	if strings.Contains(empty, "element") || !strings.HasSuffix(empty, "flush set inet mxsensor spammers6\n") {
		t.Errorf("empty nft:\n%s", empty)
	}
	// A long list is written in bounded statements.
	big := writeString(t, manyEntries(2500), FormatNft)
	if n := strings.Count(big, "add element"); n != 3 {
		t.Errorf("2500 elements in %d statements, want 3", n)
	}
	if n := strings.Count(big, "\t2001:db8:"); n != 2500 {
		t.Errorf("%d elements written, want 2500", n)
	}
}

func TestBlocklistOutermost(t *testing.T) {
	es := overlapping().Entries
	es = append(es, entry("2001:db8:1:2::/64"), Entry{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, Entry{})
	kept, left := outermost(es)
	var got []string
	for _, e := range kept {
		got = append(got, e.Prefix.String())
	}
	if want := "2001:0:4136:e378:8000:63bf:3fff:fdd2/128 2001:db8:1:2::/64 2001:db8:1:3::/64 2001:db8:5::/48"; strings.Join(got, " ") != want || left != 5 {
		t.Errorf("kept %v, left out %d; want %s, 5", got, left, want)
	}
}

// nft checks the script (nft -c: parsed and validated by the kernel, not
// committed): a list with overlapping and adjacent prefixes, an empty one
// and 10,000 entries.
func TestBlocklistNftCheck(t *testing.T) {
	nft := realProgram(t, "nft", "nftables")
	needRoot(t, "nft -c")
	for name, l := range map[string]*List{"overlapping": overlapping(), "empty": {Options: DefaultOptions()}, "10000": manyEntries(10000)} {
		path := writeFile(t, l, FormatNft, name+".nft")
		if out, err := exec.Command(nft, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Errorf("%s: nft -c -f: %v\n%s", name, err, out)
		}
	}
}

// The script loads again and again, replacing the set's elements, in a
// network namespace of its own (so the host's ruleset is untouched).
func TestBlocklistNftReload(t *testing.T) {
	nft := realProgram(t, "nft", "nftables")
	unshare := realProgram(t, "unshare", "util-linux")
	needRoot(t, "nft -f in a new network namespace")
	first := writeFile(t, overlapping(), FormatNft, "first.nft")
	second := writeFile(t, &List{Entries: []Entry{entry("2001:db8:5:7::/64"), entry("2001:db8:9::/48")}}, FormatNft, "second.nft")
	empty := writeFile(t, &List{}, FormatNft, "empty.nft")
	load := func(f string) string { return nft + " -f " + f + "; " }
	list := nft + " list set inet mxsensor spammers6; "
	// The empty list first makes the table and the set on a clean ruleset.
	script := "set -e; " + load(empty) + load(first) + load(first) + list + "echo ==; " +
		load(second) + list + "echo ==; " + load(empty) + list
	out, err := exec.Command(unshare, "--net", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	parts := strings.Split(string(out), "==")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	for i, want := range [][]string{
		{"2001:db8:1:2::/64", "2001:db8:1:3::/64", "2001:db8:5::/48", "2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		{"2001:db8:5:7::/64", "2001:db8:9::/48"},
		{},
	} {
		p := parts[i]
		for _, w := range want {
			if !strings.Contains(p, w) {
				t.Errorf("load %d: %s missing:\n%s", i+1, w, p)
			}
		}
		if n := strings.Count(p, "2001:"); n != len(want) {
			t.Errorf("load %d: %d elements, want %d:\n%s", i+1, n, len(want), p)
		}
	}
	if !strings.Contains(parts[0], "flags interval") {
		t.Errorf("set:\n%s", parts[0])
	}
}
