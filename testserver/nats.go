package testserver

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSCluster is a NATS cluster with JetStream, each node also an MQTT
// broker, on loopback.
type NATSCluster struct {
	Nodes []*NATSNode
}

// NATSNode is one nats-server process of a cluster.
type NATSNode struct {
	Name        string
	Port        int // NATS clients
	MQTTPort    int
	ClusterPort int
	HTTPPort    int // monitoring: /healthz, /varz, /jsz
	Dir         string
	p           *process
}

// NATSOptions shape a cluster.
type NATSOptions struct {
	// Nodes is how many servers (3 by default).
	Nodes int
	// Config is added to every node's configuration: accounts, users,
	// mappings, authorization. Without any, clients connect anonymously
	// to the global account, which has JetStream.
	Config string
	// MQTTReplicas is the replica count of the MQTT streams (the number
	// of nodes by default).
	MQTTReplicas int
}

// NATSBin is the nats-server binary scripts/test installs, or "" when it
// is missing.
func NATSBin() string { return find("nats-server", cachedBin("nats-server")) }

// StartNATSCluster runs a cluster and waits until every node reports
// JetStream healthy; it is stopped when the test ends.
func StartNATSCluster(t testing.TB, opt NATSOptions) *NATSCluster {
	t.Helper()
	bin := NATSBin()
	if bin == "" {
		missing(t, "nats-server")
	}
	if opt.Nodes == 0 {
		opt.Nodes = 3
	}
	if opt.MQTTReplicas == 0 {
		opt.MQTTReplicas = opt.Nodes
	}
	// A cluster that does not form (a port taken between choosing it and
	// binding it, on a busy machine) is started again on fresh ports once.
	for attempt := 1; ; attempt++ {
		c, bad := startNATSOnce(t, bin, opt)
		if bad == nil {
			return c
		}
		for _, n := range c.Nodes {
			n.Stop()
		}
		if attempt == 2 {
			t.Fatalf("nats-server %s is not healthy after 90 s:\n%s", bad.Name, bad.p.tail())
		}
		t.Logf("nats-server %s is not healthy after 90 s; starting the cluster again on other ports", bad.Name)
	}
}

// startNATSOnce starts a cluster and returns a node that did not become
// healthy, or nil.
func startNATSOnce(t testing.TB, bin string, opt NATSOptions) (*NATSCluster, *NATSNode) {
	c := &NATSCluster{}
	for i := range opt.Nodes {
		c.Nodes = append(c.Nodes, &NATSNode{Name: fmt.Sprintf("n%d", i+1), Port: freePort(t), MQTTPort: freePort(t),
			ClusterPort: freePort(t), HTTPPort: freePort(t), Dir: t.TempDir()})
	}
	var routes []string
	for _, n := range c.Nodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", n.ClusterPort))
	}
	for _, n := range c.Nodes {
		var conf strings.Builder
		fmt.Fprintf(&conf, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", n.Name, n.Port, n.HTTPPort)
		fmt.Fprintf(&conf, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 8GB\n}\n", filepath.Join(n.Dir, "js"))
		if opt.Nodes > 1 {
			// A name of its own: a route that reached another test's node
			// by a reused port is refused instead of joining two clusters.
			fmt.Fprintf(&conf, "cluster {\n  name: pitwall-%d\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", c.Nodes[0].ClusterPort, n.ClusterPort, strings.Join(routes, ", "))
		}
		fmt.Fprintf(&conf, "mqtt {\n  listen: 127.0.0.1:%d\n  stream_replicas: %d\n}\n", n.MQTTPort, opt.MQTTReplicas)
		conf.WriteString(opt.Config)
		path := filepath.Join(n.Dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		n.p = &process{t: t, name: "nats-server " + n.Name, bin: bin, args: []string{"-c", path}, logPath: filepath.Join(n.Dir, "nats.log"),
			up: func() bool { return listening(n.Port) }}
	}
	// A node's JetStream is healthy only once a quorum runs: start them
	// all, then wait.
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.p.start() }()
	}
	wg.Wait()
	for _, n := range c.Nodes {
		t.Cleanup(n.Stop)
	}
	for _, n := range c.Nodes {
		if !n.healthy(90 * time.Second) {
			return c, n
		}
	}
	return c, nil
}

// URLs are the nodes' NATS addresses, comma-separated, as clients take them.
func (c *NATSCluster) URLs() string {
	var us []string
	for _, n := range c.Nodes {
		us = append(us, n.URL())
	}
	return strings.Join(us, ",")
}

// MQTTURLs are the nodes' MQTT addresses.
func (c *NATSCluster) MQTTURLs() []string {
	var us []string
	for _, n := range c.Nodes {
		us = append(us, n.MQTTURL())
	}
	return us
}

// URL is the node's NATS address.
func (n *NATSNode) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// MQTTURL is the node's MQTT address.
func (n *NATSNode) MQTTURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", n.MQTTPort) }

// Stop shuts the node down (lame duck skipped: SIGTERM).
func (n *NATSNode) Stop() { n.p.halt(syscall.SIGTERM) }

// Kill stops the node at once, as a crash would.
func (n *NATSNode) Kill() { n.p.halt(syscall.SIGKILL) }

// Restart starts the node again on the same ports and data, and waits
// until it has caught up with the cluster.
func (n *NATSNode) Restart(t testing.TB) {
	t.Helper()
	n.p.start()
	n.WaitHealthy(t)
}

// WaitHealthy waits until the node's /healthz says JetStream is current.
func (n *NATSNode) WaitHealthy(t testing.TB) {
	t.Helper()
	if !n.healthy(90 * time.Second) {
		t.Fatalf("nats-server %s is not healthy after 90 s:\n%s", n.Name, n.p.tail())
	}
}

// healthy waits up to d for the node's /healthz to answer OK.
func (n *NATSNode) healthy(d time.Duration) bool {
	c := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.HTTPPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
	return false
}

// Log returns the last lines the node logged.
func (n *NATSNode) Log() string { return n.p.tail() }

// Pid is the node's process id, 0 while it is stopped.
func (n *NATSNode) Pid() int { return n.p.pid() }
