// Package fleettest starts embedded NATS JetStream servers for tests: a
// single node, or an in-process cluster of n nodes on 127.0.0.1 with a
// store each in the test's temporary directory. Every server is stopped
// when the test ends.
package fleettest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
)

// Node is one running (or stopped) server.
type Node struct {
	*fleet.Embedded
	// Config restarts the node where it was: same ports, same store.
	Config  fleet.EmbeddedConfig
	stopped bool
}

// Start starts a single node, stopped at the test's end.
func Start(t testing.TB) *Node {
	t.Helper()
	n := &Node{Config: fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Name: "single"}}
	n.start(t)
	// A restart listens on the port the first start got.
	n.Config.Listen = n.Server().Addr().String()
	return n
}

func (n *Node) start(t testing.TB) {
	t.Helper()
	e, err := fleet.StartEmbedded(n.Config)
	if err != nil {
		t.Fatalf("starting nats %s: %v", n.Config.Name, err)
	}
	n.Embedded, n.stopped = e, false
	t.Cleanup(n.Stop)
}

// Stop shuts the node down (a kill, as far as its clients can tell) and
// waits for it; stopping a stopped node does nothing.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.Embedded.Stop()
}

// Restart starts a stopped node again on its ports and store.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if !n.stopped {
		t.Fatalf("restarting nats %s: still running", n.Config.Name)
	}
	n.start(t)
}

// Cluster is an in-process JetStream cluster.
type Cluster struct {
	Nodes []*Node
}

// URLs are the client URLs of every node (a client given all of them
// fails over when one goes down).
func (c *Cluster) URLs() []string {
	u := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		u[i] = "nats://" + n.Config.Listen
	}
	return u
}

// StartCluster starts an n-node JetStream cluster (n >= 1) and waits until
// its meta group has a leader and every node is current, so a stream of n
// replicas can be created at once.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("a cluster of %d nodes", n)
	}
	// Every node is given the routes to all: the cluster ports are chosen
	// before the first node starts.
	ports := FreePorts(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i])
	}
	nodes := make([]*Node, n)
	for i := range n {
		nodes[i] = &Node{Config: fleet.EmbeddedConfig{
			Listen:   fmt.Sprintf("127.0.0.1:%d", ports[i]),
			StoreDir: t.TempDir(),
			Name:     fmt.Sprintf("n%d", i+1),
			Cluster:  &fleet.EmbeddedCluster{Name: "mxsensor-test", Listen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes},
		}}
	}
	return StartNodes(t, nodes...)
}

// StartNodes starts nodes configured by the caller (a configuration file
// each, say) as one cluster and waits until it is ready.
func StartNodes(t testing.TB, nodes ...*Node) *Cluster {
	t.Helper()
	c := &Cluster{Nodes: nodes}
	c.start(t)
	if len(nodes) > 1 {
		c.WaitReady(t)
	}
	return c
}

// start starts every node at once: a clustered node waits for its peers
// before it serves JetStream.
func (c *Cluster) start(t testing.TB) {
	t.Helper()
	errs := make(chan error, len(c.Nodes))
	for _, node := range c.Nodes {
		go func() {
			e, err := fleet.StartEmbedded(node.Config)
			if err == nil {
				node.Embedded = e
			}
			errs <- err
		}()
	}
	var first error
	for range c.Nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	for _, node := range c.Nodes {
		if node.Embedded != nil {
			t.Cleanup(node.Stop)
		} else {
			node.stopped = true
		}
	}
	if first != nil {
		t.Fatalf("starting a %d-node nats cluster: %v", len(c.Nodes), first)
	}
}

// WaitReady waits (at most 30 s) until the running nodes agree on a meta
// leader and are current.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.ready() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the nats cluster did not elect a JetStream meta leader within 30 s")
}

func (c *Cluster) ready() bool {
	leaders := 0
	for _, n := range c.Nodes {
		if n.stopped {
			continue
		}
		s := n.Server()
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leaders++
		}
	}
	return leaders == 1
}

// Leader returns the node leading the named stream of the global account
// (nil if none is).
func (c *Cluster) Leader(stream string) *Node {
	for _, n := range c.Nodes {
		if !n.stopped && n.Server().JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return n
		}
	}
	return nil
}

// Connect connects a client named name to urls as fleet.Connect does
// (reconnecting every 20 ms), closed at the test's end, and returns its
// JetStream context.
func Connect(t testing.TB, name string, urls ...string) jetstream.JetStream {
	t.Helper()
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: urls, Name: name, ReconnectWait: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// FreePorts returns n TCP ports of 127.0.0.1 that were free when asked
// (held open together, so they differ).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
