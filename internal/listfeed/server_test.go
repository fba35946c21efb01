package listfeed_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/dnsbl"
	"github.com/mxsensor/mxsensor/internal/listfeed"
)

// fetch GETs url and returns the status, the ETag and the body.
func fetch(t *testing.T, url, inm string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotModified && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: Content-Type %q", url, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

// TestServerReloader follows a DNSBL server's list file through the real
// reloader and serves it on 127.0.0.1 through the real handler: a bare
// port is on the loopback; the feed and the DNS server answer from the
// same list; a reload that changes the list makes a revision, one that
// does not, none.
func TestServerReloader(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "bl6.txt")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(list+".new", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(list+".new", list); err != nil {
			t.Fatal(err)
		}
	}
	write("2001:db8:1::/64\n2001:db8:2::/64\nnot a prefix\n")
	f, err := listfeed.New(listfeed.Config{State: filepath.Join(dir, "feed.json")})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan struct{}, 1)
	cfg := dnsbl.Config{Zone: "bl6.test", OnReload: func(tb *dnsbl.Table) {
		f.Update(tb.Entries())
		reloaded <- struct{}{}
	}}
	srv, err := dnsbl.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := dnsbl.NewReloader(dnsbl.ReloaderConfig{Source: dnsbl.Source{List: list}}, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Stop() })
	wait := func() {
		t.Helper()
		select {
		case <-reloaded:
		case <-time.After(10 * time.Second): // a hang, not a timing bound
			t.Fatal("no table swapped in within 10 s")
		}
	}
	wait()

	hs, err := listfeed.Listen(f, "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Shutdown(t.Context()) })
	if !strings.HasPrefix(hs.Addr().String(), "127.0.0.1:") {
		t.Fatalf("a bare port listens on %s", hs.Addr())
	}
	url := "http://" + hs.Addr().String() + listfeed.Path

	code, etag, body := fetch(t, url, "")
	var full struct {
		Revision uint64            `json:"revision"`
		Entries  []blocklist.Entry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &full); err != nil || code != 200 || etag != `"1"` {
		t.Fatalf("GET: %d %s %v: %s", code, etag, err, body)
	}
	if len(full.Entries) != srv.Table().Len() || len(full.Entries) != 2 {
		t.Fatalf("%d entries served, %d in the DNS table", len(full.Entries), srv.Table().Len())
	}
	if code, _, _ := fetch(t, url, `"1"`); code != http.StatusNotModified {
		t.Errorf("If-None-Match \"1\": %d", code)
	}

	// A reload reading the same prefixes (the file rewritten): no revision.
	reload := func() {
		t.Helper()
		rl.Reload()
		wait()
	}
	write("# again\n2001:db8:2::/64\n2001:db8:1::/64\n")
	reload()
	if f.Revision() != 1 {
		t.Errorf("an unchanged list made revision %d", f.Revision())
	}
	write("2001:db8:2::/64\n2001:db8:3::/64\n")
	reload()
	code, etag, body = fetch(t, url+"?since=1", "")
	want := fmt.Sprintf(`{"revision":2,"since":1,"added":[%s],"removed":["2001:db8:1::/64"]}`, entryJSON(t, "2001:db8:3::/64"))
	if code != 200 || etag != `"2"` || strings.TrimSpace(body) != want {
		t.Errorf("since=1: %d %s\n%s\nwant\n%s", code, etag, body, want)
	}
	if code, _, body := fetch(t, url+"?since=x", ""); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
		t.Errorf("since=x: %d %s", code, body)
	}
}

// entryJSON is the JSON of a plain list's entry for prefix.
func entryJSON(t *testing.T, prefix string) string {
	t.Helper()
	l, err := blocklist.ReadList(strings.NewReader(prefix + "\n"))
	if err != nil || len(l.Entries) != 1 {
		t.Fatal(err)
	}
	b, err := json.Marshal(l.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
