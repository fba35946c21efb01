//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/collector"
	"github.com/mxsensor/mxsensor/internal/dnsbl"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
)

// A fleet lab (Config.Sensors > 1) writes each sensor's results to
// DIR/<sensor id>/ (the files of a single lab, plus its store) and the
// collector's to DIR/collector/.
const (
	CollectorDir     = "collector"
	FleetDBFile      = "fleet.db"
	CollectorLogFile = "collect.log"
	SensorDBFile     = "sensor.db"
	DNSBLLogFile     = "dnsbl.log"
	// DNSBLZone is the zone the lab's `mxsensor dnsbl --nats` serves.
	DNSBLZone = "bl6.lab.example"
)

// Where a fleet lab's servers listen, in their own namespaces.
const (
	natsPort         = 4222
	collectorMetrics = "127.0.0.1:9726" // the collector's /healthz
	dnsblListen      = "127.0.0.1:53"   // in the second sensor's namespace
)

// Bounds of a fleet lab's waits after the traffic.
const (
	ingestTimeout = 60 * time.Second // the collector consumes every message
	listTimeout   = 30 * time.Second // the shared list reaches the DNSBL
	reportTimeout = 60 * time.Second // mxsensor report --db
)

// fleetEnv is what Run built for a fleet lab.
type fleetEnv struct {
	out, work, bpffs string
	hosts            *hosts
	clients          []Client
}

// dnsblAt is the sensor whose namespace runs the DNSBL of the shared list:
// the second one, where the check's client is not listed.
const dnsblAt = 1

// runFleet runs a network of sensors: the collector with its embedded
// JetStream server, a sensor agent publishing to it on each sensor host
// (each with its own reject log), `mxsensor dnsbl --nats` on the second
// sensor's host, and the clients delivering to every sensor in turn. Then
// it waits for the collector to have every record and for the shared list
// to reach the DNSBL, queries it for every client, stops everything,
// prints the fleet report and checks the fleet's labels. undo is Run's.
func runFleet(ctx context.Context, cfg Config, log *zap.Logger, e *fleetEnv, undo *[]func() error) (*Result, error) {
	sensors := e.hosts.sensors
	natsAddr := netip.AddrPortFrom(CollectorIPv4, natsPort).String()
	natsURL := "nats://" + natsAddr
	collDir := filepath.Join(e.out, CollectorDir)
	dirs := []string{collDir}
	for _, s := range sensors {
		dirs = append(dirs, filepath.Join(e.out, s.id), filepath.Join(e.bpffs, s.id))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	empty, err := emptyConfig(e.work)
	if err != nil {
		return nil, err
	}
	// Each sensor's domain rejected its own listed clients; run reads the
	// reject log at start: write them first.
	now := time.Now()
	for _, s := range sensors {
		if err := writeRejectLog(filepath.Join(e.out, s.id, RejectLogFile), listedAt(e.clients, s.id), now); err != nil {
			return nil, fmt.Errorf("lab: reject log of %s: %w", s.id, err)
		}
	}
	if _, err := agentFlags(cfg.Agent, "collect"); err != nil {
		return nil, fmt.Errorf("%w (a network of sensors needs mxsensor collect)", err)
	}
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}

	coll, err := startProc(e.hosts.coll, "the collector", cfg.Agent, []string{"collect", "--config=" + empty,
		"--db", filepath.Join(collDir, FleetDBFile), "--embedded-nats", natsAddr, "--nats-store", filepath.Join(e.work, "nats"),
		"--list-interval", "1s", "--metrics-listen", collectorMetrics}, collDir, filepath.Join(collDir, CollectorLogFile))
	if err != nil {
		return nil, err
	}
	*undo = append(*undo, coll.kill)
	web := nsHTTP(e.hosts.coll)
	if err := coll.waitReady(ctx, func() bool { return healthy(web, "http://"+collectorMetrics+"/healthz") }); err != nil {
		return nil, err
	}
	log.Info("collector ready", zap.Int("pid", coll.cmd.Process.Pid), zap.String("nats", natsURL))

	agents := make([]*agent, len(sensors))
	for k, s := range sensors {
		dir := filepath.Join(e.out, s.id)
		ag, err := startAgent(ctx, s, cfg, agentDirs{out: dir, pins: filepath.Join(e.bpffs, s.id), work: e.work},
			"--db", filepath.Join(dir, SensorDBFile), "--publish", natsURL, "--sensor-id", s.id)
		if ag != nil {
			*undo = append(*undo, ag.kill)
		}
		if err != nil {
			return nil, err
		}
		agents[k] = ag
		log.Info("agent ready", zap.String("sensor", s.id), zap.Int("pid", ag.cmd.Process.Pid), zap.String("xdp_mode", cfg.XDPMode))
	}

	ds := sensors[dnsblAt]
	dnsblServer := e.hosts.sensors[dnsblAt].host
	dn, err := startProc(dnsblServer, "the DNSBL", cfg.Agent, []string{"dnsbl", "--config=" + empty, "--nats", natsURL,
		"--zone", DNSBLZone, "--listen", dnsblListen, "--rate-limit", "0"},
		filepath.Join(e.out, ds.id), filepath.Join(e.out, ds.id, DNSBLLogFile))
	if err != nil {
		return nil, err
	}
	*undo = append(*undo, dn.kill)
	never := netip.MustParseAddr("fd99:ffff::1") // in no list: any answer means it serves
	if err := dn.waitReady(ctx, func() bool {
		_, err := queryDNSBL(dnsblServer, never, dns.TypeA)
		return err == nil
	}); err != nil {
		return nil, err
	}
	log.Info("DNSBL of the shared list ready", zap.String("sensor", ds.id), zap.String("listen", dnsblListen), zap.String("zone", DNSBLZone))

	tr, err := newTraffic(e.hosts, e.clients, cfg)
	if err != nil {
		return nil, err
	}
	*undo = append(*undo, tr.close)
	log.Info("clients connecting", zap.Duration("duration", cfg.Duration), zap.Int("sensors", len(sensors)))
	trafficErr := tr.run(ctx, log)
	interrupted := ctx.Err() != nil

	log.Info("stopping the agents (they close open attempts, publish them and write their reports)")
	stopErr := stopAll(agents, cfg)
	if interrupted {
		if cfg.OutDir != "" {
			fmt.Fprintf(cfg.Stdout, "lab interrupted; partial results in %s\n", e.out)
		}
		return nil, errors.Join(ErrInterrupted, stopErr)
	}
	if err := errors.Join(trafficErr, stopErr); err != nil {
		return nil, err
	}

	log.Info("waiting for the collector to store every record")
	stream, err := awaitIngested(ctx, e.hosts.coll, natsURL)
	if err != nil {
		return nil, errors.Join(err, coll.exited())
	}
	log.Info("collector caught up", zap.Uint64("messages", stream))

	log.Info("querying the DNSBL of the shared list")
	answers, err := queryAll(ctx, dnsblServer, e.clients)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(dn.stop(cfg.StopTimeout, cfg.Kill), coll.stop(cfg.StopTimeout, cfg.Kill)); err != nil {
		return nil, err
	}

	db := filepath.Join(collDir, FleetDBFile)
	report, err := fleetReport(ctx, cfg.Agent, empty, db)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(collDir, ReportFile), report, 0o644); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	res, err := summarizeFleet(e, tr, db, answers)
	if err != nil {
		return nil, err
	}
	w := cfg.Stdout
	fmt.Fprintf(w, "==== %s (mxsensor report --db %s)\n\n", filepath.Join(collDir, ReportFile), db)
	w.Write(report)
	fmt.Fprintln(w)
	res.printFleet(w, stream, ds.id)
	if cfg.OutDir != "" {
		fmt.Fprintf(w, "\nresults kept in %s\n", e.out)
	} else {
		fmt.Fprintf(w, "\nresults removed (use --keep DIR to keep them)\n")
	}
	if n := res.Failed(); n > 0 {
		return res, fmt.Errorf("lab: %d clients or checks of the network of sensors not as expected (see the summary)", n)
	}
	return res, nil
}

// listedAt is clients with Listed set for those listed at sensor id.
func listedAt(clients []Client, id string) []Client {
	out := slices.Clone(clients)
	for i := range out {
		out[i].Listed = slices.Contains(out[i].ListedAt, id)
	}
	return out
}

// stopAll stops the agents at once (each flushes and publishes).
func stopAll(agents []*agent, cfg Config) error {
	errs := make([]error, len(agents))
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() { errs[i] = a.stop(cfg.StopTimeout, cfg.Kill) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// exited says whether the process died, with its log's end.
func (a *agent) exited() error {
	select {
	case <-a.done:
		return fmt.Errorf("lab: %s exited (%v):\n%s", a.name, a.waitErr, a.logTail())
	default:
		return nil
	}
}

// nsDial dials from inside h: the socket belongs to h's namespace.
func nsDial(h *netlab.Host, network, addr string) (c net.Conn, err error) {
	err = h.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, 2*time.Second)
		return err
	})
	return c, err
}

// nsDialer is a NATS dialer into a host's namespace.
type nsDialer struct{ h *netlab.Host }

func (d nsDialer) Dial(network, addr string) (net.Conn, error) { return nsDial(d.h, network, addr) }

// nsHTTP is an HTTP client whose connections start inside h.
func nsHTTP(h *netlab.Host) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) { return nsDial(h, network, addr) }}}
}

func healthy(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// awaitIngested waits until the collector's durable consumer has
// acknowledged every message of the stream (the sensors have stopped:
// nothing more comes) and returns how many the stream holds.
func awaitIngested(ctx context.Context, coll *netlab.Host, url string) (uint64, error) {
	nc, err := nats.Connect(url, nats.SetCustomDialer(nsDialer{coll}), nats.Name("mxsensor lab"), nats.NoReconnect())
	if err != nil {
		return 0, fmt.Errorf("lab: connecting to the collector's server: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ingestTimeout)
	defer cancel()
	var last error
	for {
		var ci *jetstream.ConsumerInfo
		c, err := js.Consumer(ctx, fleet.StreamName, collector.DefaultDurable)
		if err == nil {
			ci, err = c.Info(ctx)
		}
		switch {
		case err != nil:
			last = err
		case ci.NumPending == 0 && ci.NumAckPending == 0:
			s, err := js.Stream(ctx, fleet.StreamName)
			if err != nil {
				return 0, fmt.Errorf("lab: %w", err)
			}
			return s.CachedInfo().State.Msgs, nil
		default:
			last = fmt.Errorf("%d messages pending, %d not acknowledged", ci.NumPending, ci.NumAckPending)
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return 0, ErrInterrupted
			}
			return 0, fmt.Errorf("lab: the collector did not store every record within %v: %v", ingestTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// queryDNSBL asks the DNSBL, from inside h, about ip.
func queryDNSBL(h *netlab.Host, ip netip.Addr, qtype uint16) (*dns.Msg, error) {
	var in *dns.Msg
	err := h.Do(func() error {
		m := new(dns.Msg)
		m.SetQuestion(dnsbl.Nibbles(ip)+"."+DNSBLZone+".", qtype)
		c := dns.Client{Timeout: 2 * time.Second}
		var err error
		in, _, err = c.Exchange(m, dnsblListen)
		return err
	})
	return in, err
}

// dnsblAnswer is the answer to an A query: "127.0.0.2 (TXT ...)" for a
// listed address, "NXDOMAIN" for one not listed.
func dnsblAnswer(h *netlab.Host, ip netip.Addr) (string, error) {
	in, err := queryDNSBL(h, ip, dns.TypeA)
	if err != nil {
		return "", err
	}
	if in.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[in.Rcode], nil
	}
	var as []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			as = append(as, a.A.String())
		}
	}
	if len(as) == 0 {
		return "NODATA", nil
	}
	txt, err := queryDNSBL(h, ip, dns.TypeTXT)
	if err != nil {
		return "", err
	}
	for _, rr := range txt.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			as = append(as, fmt.Sprintf("%q", strings.Join(t.Txt, "")))
		}
	}
	return strings.Join(as, " "), nil
}

// listedAnswer is the DNSBL's answer for a listed address.
const listedAnswer = "127.0.0.2"

// queryAll waits (bounded) until the DNSBL lists every listed client (the
// collector writes the list every second; the DNSBL follows its bucket),
// then returns its answer for each client.
func queryAll(ctx context.Context, h *netlab.Host, clients []Client) (map[string]string, error) {
	deadline := time.Now().Add(listTimeout)
	for {
		answers := map[string]string{}
		missing := 0
		for _, c := range clients {
			a, err := dnsblAnswer(h, c.IPv6)
			if err != nil {
				return nil, fmt.Errorf("lab: querying the DNSBL about %s: %w", c.Name, err)
			}
			answers[c.Name] = a
			if c.Listed && !strings.HasPrefix(a, listedAnswer) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return answers, nil
		}
		select {
		case <-ctx.Done():
			return nil, ErrInterrupted
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// fleetReport runs `mxsensor report --db` on the collector's store.
func fleetReport(ctx context.Context, bin, config, db string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "report", "--config="+config, "--db", db)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("lab: mxsensor report --db %s: %w\n%s", db, err, stderr.String())
	}
	return b, nil
}

// summarizeFleet checks every client at every sensor and in the
// collector's store, and the network as a whole.
func summarizeFleet(e *fleetEnv, tr *traffic, db string, answers map[string]string) (*Result, error) {
	res := &Result{Dir: e.out}
	st, err := store.OpenReadOnly(db)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer st.Close()
	local := make([][]tallies, len(e.hosts.sensors))
	fleetView := make([][]tallies, len(e.hosts.sensors))
	for k, s := range e.hosts.sensors {
		res.Sensors = append(res.Sensors, s.id)
		if local[k], err = tally(results.Dir(filepath.Join(e.out, s.id)), e.clients); err != nil {
			return nil, err
		}
		if fleetView[k], err = tally(st.Sensor(s.id), e.clients); err != nil {
			return nil, err
		}
	}
	for i, c := range e.clients {
		cr := newClientResult(c, tr.clients[c.Name].stats())
		cr.DNSBL = answers[c.Name]
		for k, id := range res.Sensors {
			l, f := local[k][i], fleetView[k][i]
			sc := SensorCounts{Deliveries: tr.clients[c.Name].stats().PerSensor[k],
				V4: l.v4, V6: l.v6, Associated: l.associated, WrongIPv4: l.wrongIPv4, Spammer: l.spammer,
				FleetV4: f.v4, FleetV6: f.v6, FleetAssociated: f.associated, FleetSpammer: f.spammer}
			cr.PerSensor = append(cr.PerSensor, sc)
			cr.V4Attempts += f.v4
			cr.V6Attempts += f.v6
			cr.Associated += f.associated
			cr.WrongIPv4 += f.wrongIPv4
			cr.Spammer += f.spammer
			if cr.OSClass == "" {
				cr.OSClass = f.osClass
			}
			cr.checkAt(id, sc)
		}
		listed := strings.HasPrefix(cr.DNSBL, listedAnswer)
		switch {
		case c.Listed && !listed:
			cr.Problems = append(cr.Problems, fmt.Sprintf("listed, but the shared list's DNSBL answers %s", cr.DNSBL))
		case !c.Listed && cr.DNSBL != "NXDOMAIN":
			cr.Problems = append(cr.Problems, fmt.Sprintf("not listed, but the shared list's DNSBL answers %s", cr.DNSBL))
		}
		cr.checkTraffic()
		res.Clients = append(res.Clients, cr)
	}
	res.Checks = append(res.Checks, res.pointCheck(), res.listCheck(e.hosts.sensors[dnsblAt].id))
	return res, nil
}

// checkAt adds the problems of what sensor id and the collector made of
// the client's deliveries to id.
func (c *ClientResult) checkAt(id string, sc SensorCounts) {
	add := func(format string, args ...any) {
		c.Problems = append(c.Problems, id+": "+fmt.Sprintf(format, args...))
	}
	here := slices.Contains(c.ListedAt, id)
	switch {
	case sc.Deliveries > 0 && sc.V6 == 0:
		add("no IPv6 attempt recorded")
	case sc.WrongIPv4 > 0:
		add("%d IPv6 attempts associated with another client's IPv4", sc.WrongIPv4)
	case here && (sc.Associated < sc.V6 || sc.Spammer < sc.V6):
		add("listed here, but only %d of %d IPv6 attempts associated and %d labelled spammer", sc.Associated, sc.V6, sc.Spammer)
	case !here && sc.Spammer > 0:
		add("not listed here, but %d IPv6 attempts labelled spammer by the sensor alone", sc.Spammer)
	}
	// Every record once at the collector, labelled with the fleet's list.
	switch {
	case sc.FleetV4 != sc.V4 || sc.FleetV6 != sc.V6:
		add("the collector holds %d IPv4 and %d IPv6 attempts, the sensor recorded %d and %d", sc.FleetV4, sc.FleetV6, sc.V4, sc.V6)
	case c.Listed && (sc.FleetAssociated < sc.FleetV6 || sc.FleetSpammer < sc.FleetV6):
		add("listed at %s, but in the fleet's view only %d of %d IPv6 attempts associated and %d spammer",
			strings.Join(c.ListedAt, ","), sc.FleetAssociated, sc.FleetV6, sc.FleetSpammer)
	case !c.Listed && sc.FleetSpammer > 0:
		add("listed nowhere, but %d IPv6 attempts spammer in the fleet's view", sc.FleetSpammer)
	}
}

// pointCheck is the point of the network: a client listed only at the
// first sensor's domain, seen at the second sensor, is a spammer there in
// the fleet's view, though not by the second sensor alone.
func (r *Result) pointCheck() Check {
	for i := range r.Clients {
		c := &r.Clients[i]
		if !slices.Equal(c.ListedAt, r.Sensors[:1]) {
			continue
		}
		sc := c.PerSensor[1]
		ok := sc.V6 > 0 && sc.Spammer == 0 && sc.FleetSpammer == sc.FleetV6 && sc.FleetV6 == sc.V6
		return Check{OK: ok, Detail: fmt.Sprintf("%s, listed only at %s's domain, connected to %s: %d of %d IPv6 attempts spammer by %s alone, %d of %d in the fleet's view",
			c.Name, r.Sensors[0], r.Sensors[1], sc.Spammer, sc.V6, r.Sensors[1], sc.FleetSpammer, sc.FleetV6)}
	}
	return Check{Detail: fmt.Sprintf("no client listed only at %s's domain", r.Sensors[0])}
}

// listCheck: the DNSBL of the shared list answers for the listed clients
// only.
func (r *Result) listCheck(at string) Check {
	var listed, other, wrong int
	example := ""
	for i := range r.Clients {
		c := &r.Clients[i]
		is := strings.HasPrefix(c.DNSBL, listedAnswer)
		if is && example == "" {
			example = fmt.Sprintf("\n      %s.%s (%s): %s", dnsbl.Nibbles(c.IPv6), DNSBLZone, c.Name, c.DNSBL)
		}
		switch {
		case c.Listed && is:
			listed++
		case !c.Listed && c.DNSBL == "NXDOMAIN":
			other++
		default:
			wrong++
		}
	}
	return Check{OK: wrong == 0, Detail: fmt.Sprintf("%s's DNSBL (dnsbl --nats, the shared list): %s for the %d listed clients' IPv6 addresses, NXDOMAIN for the %d others; %d wrong%s",
		at, listedAnswer, listed, other, wrong, example)}
}

// printFleet writes a fleet lab's clients' table and checks.
func (r *Result) printFleet(w io.Writer, messages uint64, dnsblAt string) {
	fmt.Fprintf(w, "==== lab clients: what each sensor and the collector made of them (%s; %d messages through the collector's stream)\n\n",
		strings.Join(r.Sensors, ", "), messages)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	per := strings.Join(r.Sensors, "/")
	fmt.Fprintf(tw, "client\tkind\tIPv4\tIPv6\tlisted at\tdeliveries %s\tv6 att %s\tspammer by the sensor %s\tspammer in the fleet %s\t%s's DNSBL\tcheck\n",
		per, per, per, per, dnsblAt)
	for i := range r.Clients {
		c := &r.Clients[i]
		at := strings.Join(c.ListedAt, ",")
		if at == "" {
			at = "-"
		}
		col := func(f func(SensorCounts) int) string {
			var s []string
			for _, sc := range c.PerSensor {
				s = append(s, fmt.Sprint(f(sc)))
			}
			return strings.Join(s, "/")
		}
		check := "ok"
		if !c.OK() {
			check = "FAIL: " + strings.Join(c.Problems, "; ")
		}
		ans := c.DNSBL
		if strings.HasPrefix(ans, listedAnswer) {
			ans = listedAnswer
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Kind, c.IPv4, c.IPv6, at,
			col(func(s SensorCounts) int { return s.Deliveries }), col(func(s SensorCounts) int { return s.V6 }),
			col(func(s SensorCounts) int { return s.Spammer }), col(func(s SensorCounts) int { return s.FleetSpammer }), ans, check)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n==== the network of sensors\n\n")
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s\n", mark, c.Detail)
	}
	if n := r.Failed(); n == 0 {
		fmt.Fprintf(w, "\nall %d clients and %d checks as expected: every record once at the collector; listed clients' IPv6 attempts spammer at every sensor in the fleet's view, the others nowhere\n",
			len(r.Clients), len(r.Checks))
	} else {
		fmt.Fprintf(w, "\n%d clients or checks NOT as expected\n", n)
	}
}
