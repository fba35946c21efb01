package dnsbl

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// TestTableEntries: a table gives back the entries it lists, in their
// order, without those it skipped (not IPv6, duplicates) nor the test
// point; Reload tells OnReload each table swapped in, New's not.
func TestTableEntries(t *testing.T) {
	e := func(p string) blocklist.Entry { return blocklist.Entry{Prefix: netip.MustParsePrefix(p)} }
	prefixes := func(es []blocklist.Entry) []string {
		var ps []string
		for _, e := range es {
			ps = append(ps, e.Prefix.String())
		}
		return ps
	}
	all := []blocklist.Entry{e("2001:db8:2::/64"), e("2001:db8:1::/64")}
	if got := NewTable(all).Entries(); len(got) != 2 || &got[0] != &all[0] {
		t.Errorf("all taken: %v, not the caller's slice", prefixes(got))
	}
	mixed := []blocklist.Entry{e("2001:db8:2::/64"), e("192.0.2.0/24"), e("2001:db8:1::/64"), e("2001:db8:2::1/64"), {}, e("2001:db8:3::/64")}
	tb := NewTable(mixed)
	if got, want := prefixes(tb.Entries()), []string{"2001:db8:2::/64", "2001:db8:1::/64", "2001:db8:3::/64"}; !slices.Equal(got, want) || tb.Len() != 3 {
		t.Errorf("entries %v (len %d), want %v", got, tb.Len(), want)
	}
	if got := NewTable(nil).Entries(); len(got) != 0 {
		t.Errorf("empty table: %v", prefixes(got))
	}

	var seen []*Table
	srv, err := New(Config{Zone: "bl6.test", OnReload: func(t *Table) { seen = append(seen, t) }}, tb)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Fatal("New's table went through OnReload")
	}
	next := NewTable(all)
	srv.Reload(next)
	if len(seen) != 1 || seen[0] != next || srv.Table() != next {
		t.Errorf("OnReload saw %d tables", len(seen))
	}
}
