package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/dnsbl"
)

// dnsblFeedGet GETs the feed's url and decodes the revision and the
// entries' or the changes' prefixes.
type dnsblFeedBody struct {
	Revision uint64 `json:"revision"`
	Entries  []struct {
		Prefix string `json:"prefix"`
	} `json:"entries"`
	Added []struct {
		Prefix string `json:"prefix"`
	} `json:"added"`
	Removed []string `json:"removed"`
}

func dnsblFeedGet(t *testing.T, url string) dnsblFeedBody {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var body dnsblFeedBody
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != fmt.Sprintf(`"%d"`, body.Revision) {
		t.Fatalf("GET %s: %d %v ETag %s: %s", url, resp.StatusCode, err, resp.Header.Get("ETag"), b)
	}
	return body
}

// dnsblFreeTCP returns a port of 127.0.0.1 that was free when asked.
func dnsblFreeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// TestDnsblHTTPFeed runs `mxsensor dnsbl --list FILE --http :PORT` in
// process: the feed serves the list the DNS server loaded, follows the
// file as the reloader reloads it, and after a restart keeps its revision
// (its state file beside the list by default) and the changes before it.
func TestDnsblHTTPFeed(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "bl6.txt")
	// Written in place, one write: the lists' sizes differ.
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(list, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2001:db8:1::/64\n2001:db8:2::/64\n")
	const zone = "bl6.test."
	port := dnsblFreeTCP(t)
	url := "http://127.0.0.1:" + port + "/v1/list"
	t.Run("first", func(t *testing.T) {
		addr := dnsblStartCLI(t, zone, "--list", list, "--reload", "10ms", "--http", ":"+port)
		if r := dnsblAsk(t, addr, dnsbl.Nibbles(netip.MustParseAddr("2001:db8:2::1"))+"."+zone, dns.TypeA); r.Rcode != "NOERROR" {
			t.Fatalf("2001:db8:2:: not listed: %s", r)
		}
		if b := dnsblFeedGet(t, url); b.Revision != 1 || len(b.Entries) != 2 {
			t.Fatalf("first list: %+v", b)
		}
		write("# changed\n2001:db8:2::/64\n2001:db8:3::/64\n")
		// The reloader takes the file once it has stayed the same for one
		// poll: wait for the revision it makes (10 s: a hang).
		deadline := time.Now().Add(10 * time.Second)
		for dnsblFeedGet(t, url).Revision != 2 {
			if time.Now().After(deadline) {
				t.Fatal("no revision 2 within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	if _, err := os.Stat(list + ".feed.json"); err != nil {
		t.Fatalf("no state beside the list: %v", err)
	}
	t.Run("restart", func(t *testing.T) {
		dnsblStartCLI(t, zone, "--list", list, "--reload", "0", "--http", ":"+port)
		b := dnsblFeedGet(t, url+"?since=1")
		if b.Revision != 2 || len(b.Added) != 1 || b.Added[0].Prefix != "2001:db8:3::/64" || strings.Join(b.Removed, ",") != "2001:db8:1::/64" {
			t.Errorf("since=1 after the restart: %+v", b)
		}
	})
}

// TestDnsblHTTPFlags: --http-state needs --http, and a network's list
// (--nats) has nothing to keep the state beside.
func TestDnsblHTTPFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--list", "x", "--http-state", "s"}, "--http-state needs --http"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--http", "8080"}, "--http with --nats needs --http-state"},
		{[]string{"--list", "x", "--http", "localhost"}, "--http: invalid address"},
	} {
		cmd := newRootCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"dnsbl", "--zone", "bl6.test"}, c.args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
