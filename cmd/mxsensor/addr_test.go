package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/addr"
)

func TestAddrCommand(t *testing.T) {
	out, _, err := runCLI(t, "addr", "--json", "2002:c000:21e::c000:21e", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::211:22ff:fe33:4455", "8.8.8.8")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var r [4]addr.Report
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &r[i]); err != nil {
			t.Fatal(err)
		}
	}
	if r[0].Kind != "6to4" || r[0].Gateway6to4 != "192.0.2.30" || len(r[0].Embedded) == 0 || r[0].Embedded[0].IPv4 != "192.0.2.30" || r[0].Prefix48 != "2002:c000:21e::/48" {
		t.Errorf("6to4: %+v", r[0])
	}
	// Teredo: server 65.54.227.120, client 192.0.2.45 (0x3fff fdd2 ^ 0xffffffff), port 40000 (0x63bf ^ 0xffff).
	if r[1].Kind != "teredo" || r[1].TeredoServer != "65.54.227.120" || r[1].TeredoClient != "192.0.2.45" || r[1].TeredoPort != 40000 {
		t.Errorf("teredo: %+v", r[1])
	}
	if r[2].Kind != "eui64" || r[2].MAC != "00:11:22:33:44:55" {
		t.Errorf("eui64: %+v", r[2])
	}
	if r[3].Kind != "ipv4" || r[3].PublicIPv4 == nil || !*r[3].PublicIPv4 {
		t.Errorf("ipv4: %+v", r[3])
	}
	text, _, err := runCLI(t, "addr", "2002:c000:21e::c000:21e")
	if err != nil || !strings.Contains(text, "embeds 192.0.2.30 (6to4-gateway") {
		t.Errorf("text output: %v\n%s", err, text)
	}
	if _, _, err := runCLI(t, "addr", "not-an-address"); err == nil {
		t.Error("garbage accepted")
	}
}
