package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// weighted is a choice with a relative weight.
type weighted[T any] struct {
	w float64
	v T
}

// mix is a preset of population shares and behaviour knobs.
type mix struct {
	// Role shares (misbehaving MTAs are counted separately).
	spammer, bot, legit, scanner float64
	misbehavingPer               int // one misbehaving MTA per this many hosts (at least one when hosts >= 200)

	spamOS  []weighted[*stack]
	legitOS []weighted[*stack]

	// IPv6 address types of spammers and bots ("none" = IPv4-only, "v6only" = IPv6-only native).
	addrTypes []weighted[string]
	// Client software address handling of spammers and bots.
	software []weighted[string]

	natShare     float64 // share of spammers/bots behind NAT
	natMaxGroup  int     // hosts sharing one public IPv4
	listedShare  float64 // share of spammers' public IPv4s on a DNSBL
	botGroupMin  int
	botGroupMax  int
	botJitter    time.Duration // spread of a campaign's simultaneous starts
	botSameOS    float64       // probability a bot group runs one OS
	botSame64    float64       // probability a bot group shares one /64 (sequential IIDs)
	spamRate     float64       // mean deliveries per spammer per hour (heavy-tailed)
	campaignRate float64       // campaigns per bot group per hour
	legitRate    float64       // sensor deliveries per legitimate MTA per hour
	scanRate     float64       // SYNs per scanner per hour
	mssVary      float64       // share of hosts whose MSS is below 1460

	// Knobs of the scenario families built to fail the association
	// engine (adversarial.go). Their zero values leave a preset as it was.
	repeaterPer int           // one repeat sender per this many hosts (0: none)
	repeat      repeatKnobs   // how repeat senders behave
	decoyShare  float64       // share of spammers', bots' and legitimate MTAs' native/EUI-64 addresses replaced by one embedding another host's IPv4
	waveRate    float64       // spam waves per hour (times density)
	waveJoin    float64       // probability a spammer on waveStack joins a wave
	waveJitter  time.Duration // spread of a wave's starts
	waveStack   *stack        // the stack whose spammers join waves
}

var (
	spamOSDefault = []weighted[*stack]{{40, &stWin7}, {25, &stWin10}, {5, &stWin11}, {15, &stLinuxNew}, {7, &stLinuxOld}, {4, &stMac}, {4, &stFreeBSD}}
	legitOS       = []weighted[*stack]{{55, &stLinuxNew}, {22, &stLinuxOld}, {15, &stFreeBSD}, {8, &stWin10}}
	addrDefault   = []weighted[string]{{35, "native"}, {14, "eui64"}, {10, "embedded-ipv4"}, {13, "6to4"}, {8, "teredo"}, {17, "none"}, {3, "v6only"}}
	softDefault   = []weighted[string]{{72, "rfc6724"}, {12, "ipv4-first"}, {8, "first-only"}, {8, "ipv4-only"}}
)

func defaultMix() mix {
	return mix{
		spammer: 55, bot: 20, legit: 15, scanner: 8, misbehavingPer: 2000,
		spamOS: spamOSDefault, legitOS: legitOS, addrTypes: addrDefault, software: softDefault,
		natShare: 0.15, natMaxGroup: 3, listedShare: 0.8,
		botGroupMin: 3, botGroupMax: 12, botJitter: 2 * time.Second, botSameOS: 0.8, botSame64: 0.1,
		spamRate: 6, campaignRate: 3, legitRate: 0.5, scanRate: 2, mssVary: 0.15,
	}
}

// mixes are the presets selectable with -mix.
var mixes = map[string]func() mix{
	"default": defaultMix,
	"hard": func() mix {
		m := defaultMix()
		m.spammer, m.bot = 40, 40
		m.natShare, m.natMaxGroup = 0.4, 6
		m.botGroupMin, m.botGroupMax = 6, 30
		m.botJitter = 50 * time.Millisecond
		m.botSameOS, m.botSame64 = 1, 0.4
		m.campaignRate = 6
		m.misbehavingPer = 1000
		m.software = []weighted[string]{{60, "rfc6724"}, {20, "ipv4-first"}, {10, "first-only"}, {10, "ipv4-only"}}
		return m
	},
	"windows-heavy": func() mix {
		m := defaultMix()
		m.spamOS = []weighted[*stack]{{45, &stWin7}, {30, &stWin10}, {10, &stWin11}, {8, &stLinuxNew}, {3, &stLinuxOld}, {2, &stMac}, {2, &stFreeBSD}}
		return m
	},
	"6to4-heavy": func() mix {
		m := defaultMix()
		m.addrTypes = []weighted[string]{{15, "native"}, {6, "eui64"}, {5, "embedded-ipv4"}, {40, "6to4"}, {20, "teredo"}, {12, "none"}, {2, "v6only"}}
		return m
	},
	"repeaters":   repeatersMix,
	"generic":     genericMix,
	"decoys":      decoysMix,
	"adversarial": adversarialMix,
}

// mixHelp describes each preset in a line, for -help.
var mixHelp = map[string]string{
	"default":       "55% spammers, 20% bots, 15% legitimate MTAs, 8% scanners, a regular repeat sender per 2000 hosts",
	"hard":          "40% bots in large one-stack campaigns starting within 50 ms, 40% behind NAT",
	"windows-heavy": "85% of spammers on Windows",
	"6to4-heavy":    "40% 6to4 and 20% Teredo addresses",
	"repeaters":     "default plus a repeat sender per 18 hosts: 5-60 min of irregular retries every few seconds, any stack and address form",
	"generic":       "70% of spammers and bots on Linux 5.x; campaigns and spam waves start many of them in the same second",
	"decoys":        "default with 30% of native/EUI-64 addresses embedding another host's IPv4 (low 32 bits) or last octet",
	"adversarial":   "generic, repeaters and decoys together (run at -density 2-3)",
}

func mixNames() string {
	var n []string
	for k := range mixes {
		n = append(n, k)
	}
	slices.Sort(n)
	return strings.Join(n, ", ")
}

func lookupMix(name string) (mix, error) {
	f, ok := mixes[name]
	if !ok {
		return mix{}, fmt.Errorf("unknown mix %q (have %s)", name, mixNames())
	}
	return f(), nil
}
