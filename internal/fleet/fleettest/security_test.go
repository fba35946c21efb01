package fleettest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/mxsensor/mxsensor/internal/fleet"
)

// exampleDir holds the shipped example server configuration.
const exampleDir = "../../../packaging/nats"

// TestExampleConfigPermissions runs the shipped example configuration
// (packaging/nats: accounts, permissions, TLS, a 3-node cluster), with
// only its ports, paths and public keys replaced, and checks who may do
// what: a sensor publishes under its own id and is refused under another's
// and on the list's bucket; the collector consumes and writes the bucket
// and publishes no records; a client without credentials is not let in.
func TestExampleConfigPermissions(t *testing.T) {
	dir := t.TempDir()
	ca := writeTestPKI(t, dir)
	accounts, err := os.ReadFile(filepath.Join(exampleDir, "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := os.ReadFile(filepath.Join(exampleDir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// A fresh key pair per user of the example: its seed is the client's.
	seeds := map[string]string{}
	userKey := regexp.MustCompile(`nkey: (U[A-Z2-7]{55})\s*}?\s*# user (\S+)`)
	acc := userKey.ReplaceAllStringFunc(string(accounts), func(m string) string {
		sub := userKey.FindStringSubmatch(m)
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		seeds[sub[2]] = filepath.Join(dir, sub[2]+".nk")
		if err := os.WriteFile(seeds[sub[2]], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return strings.Replace(m, sub[1], pub, 1)
	})
	for _, u := range []string{"admin", "s1", "s2", "collector", "dnsbl"} {
		if seeds[u] == "" {
			t.Fatalf("the example has no user %s", u)
		}
	}

	const n = 3
	ports := FreePorts(t, 2*n)
	names := []string{"nats-a", "nats-b", "nats-c"}
	nodes := make([]*Node, n)
	var urls []string
	for i := range n {
		r := strings.NewReplacer("/etc/nats/certs/", dir+"/", "0.0.0.0:4222", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"0.0.0.0:6222", fmt.Sprintf("127.0.0.1:%d", ports[n+i]),
			"nats-a.example.org:6222", fmt.Sprintf("127.0.0.1:%d", ports[n]),
			"nats-b.example.org:6222", fmt.Sprintf("127.0.0.1:%d", ports[n+1]),
			"nats-c.example.org:6222", fmt.Sprintf("127.0.0.1:%d", ports[n+2]))
		text := r.Replace(string(node))
		if text == string(node) || strings.Contains(text, "example.org:6222") || strings.Contains(text, `"/etc/`) {
			t.Fatalf("the example's ports, routes or paths changed; the test's replacements no longer apply:\n%s", text)
		}
		ndir := filepath.Join(dir, names[i])
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, s := range map[string]string{"nats.conf": text, "accounts.conf": acc} {
			if err := os.WriteFile(filepath.Join(ndir, f), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		nodes[i] = &Node{Config: fleet.EmbeddedConfig{ConfigFile: filepath.Join(ndir, "nats.conf"), Name: names[i], StoreDir: filepath.Join(ndir, "js")}}
		urls = append(urls, fmt.Sprintf("tls://127.0.0.1:%d", ports[i]))
	}
	StartNodes(t, nodes...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// connect connects as user and collects the permission violations the
	// server reports.
	connect := func(user string) (jetstream.JetStream, <-chan error) {
		t.Helper()
		nc, err := fleet.Connect(fleet.ConnConfig{URLs: urls, Name: user, NKey: seeds[user], TLSCA: ca}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		denied := make(chan error, 16)
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case denied <- err:
			default:
			}
		})
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js, denied
	}
	// refused checks that do is refused with a permission violation on
	// subject (the server drops the message: no acknowledgement comes).
	refused := func(what string, denied <-chan error, subject string, do func(context.Context) error) {
		t.Helper()
		dctx, dcancel := context.WithCancel(ctx)
		res := make(chan error, 1)
		go func() { res <- do(dctx) }()
		finished := false
		select {
		case err := <-denied:
			if !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), subject) {
				t.Errorf("%s: %v, want a permissions violation on %s", what, err, subject)
			}
		case err := <-res:
			finished = true
			t.Errorf("%s: done (error %v) without a permissions violation", what, err)
		case <-ctx.Done():
			t.Fatalf("%s: no permissions violation", what)
		}
		dcancel()
		if !finished {
			if err := <-res; err == nil {
				t.Errorf("%s: succeeded", what)
			}
		}
	}

	coll, collDenied := connect("collector")
	scfg := fleet.DefaultStreamConfig()
	scfg.Replicas = 3
	s, err := fleet.EnsureStream(ctx, coll, scfg)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := fleet.EnsureList(ctx, coll, fleet.ListConfig{Replicas: 3, Expire: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	s1, s1Denied := connect("s1")
	id := fleet.MsgID("s1", fleet.KindAttempt, netip.MustParseAddr("192.0.2.1"), 4000, time.Unix(1700000000, 0), "")
	if _, err := s1.Publish(ctx, fleet.Subject("s1", fleet.KindAttempt), []byte(`{"sensor":"s1"}`), jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("s1 publishing under its own id: %v", err)
	}
	other := fleet.Subject("s2", fleet.KindAttempt)
	refused("s1 publishing under s2", s1Denied, other, func(c context.Context) error {
		_, err := s1.Publish(c, other, []byte(`{"sensor":"s2"}`))
		return err
	})
	key := fleet.PrefixKey(netip.MustParsePrefix("2001:db8::/64"))
	s1kv, err := s1.KeyValue(ctx, fleet.ListBucket)
	if err != nil {
		t.Fatalf("s1 looking the list up: %v", err)
	}
	refused("s1 writing the list", s1Denied, "$KV."+fleet.ListBucket+"."+key, func(c context.Context) error {
		_, err := s1kv.Put(c, key, []byte(`{}`))
		return err
	})
	refused("the collector publishing a record", collDenied, fleet.Subject("s1", fleet.KindStatus), func(c context.Context) error {
		_, err := coll.Publish(c, fleet.Subject("s1", fleet.KindStatus), []byte(`{"sensor":"s1"}`))
		return err
	})

	// The collector reads s1's message, and only it, and writes the list.
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "collector", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0] != fleet.Subject("s1", fleet.KindAttempt) {
		t.Errorf("the collector read %v, want s1's attempt only", got)
	}
	entry := fmt.Sprintf(`{"prefix":"2001:db8::/64","attempts":1,"sensors":["s1"]}`)
	if _, err := kv.Put(ctx, key, []byte(entry)); err != nil {
		t.Fatalf("the collector writing the list: %v", err)
	}

	// A sensor and a list reader read the list.
	for _, u := range []string{"s1", "dnsbl"} {
		js, _ := connect(u)
		v, err := fleet.ReadList(ctx, js, 30*time.Second)
		if err != nil {
			t.Errorf("%s reading the list: %v", u, err)
			continue
		}
		if l := v.List(); len(l.Entries) != 1 || l.Entries[0].Sensors[0] != "s1" {
			t.Errorf("%s read %+v", u, l.Entries)
		}
	}

	// No credentials, no entry.
	if nc, err := nats.Connect(urls[0], nats.RootCAs(ca), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a client without credentials got in")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("a client without credentials: %v", err)
	}
}

// writeTestPKI writes a CA and a certificate for 127.0.0.1 and the
// example's host names (servers and routes) as ca.pem, server.pem and
// server-key.pem in dir, and returns the CA's file.
func writeTestPKI(t *testing.T, dir string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mxsensor test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames:    []string{"localhost", "nats-a.example.org", "nats-b.example.org", "nats-c.example.org"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		// Servers, and routes, which connect to each other as clients.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server-key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, f), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ca.pem")
}
