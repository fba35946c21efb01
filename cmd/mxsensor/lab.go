package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/lab"
	"github.com/mxsensor/mxsensor/internal/netlab"
)

// labConfig is lab's section.
type labConfig struct {
	Duration time.Duration              `mapstructure:"duration"`
	Linux    int                        `mapstructure:"linux"`
	Windows  int                        `mapstructure:"windows"`
	MacOS    int                        `mapstructure:"macos"`
	Sensors  int                        `mapstructure:"sensors"`
	Listed   []string                   `mapstructure:"listed"`
	XDPMode  config.Choice[labXDPModes] `mapstructure:"xdp-mode"`
	Keep     string                     `mapstructure:"keep"`
	Agent    string                     `mapstructure:"agent"`
	Cleanup  bool                       `mapstructure:"cleanup"`

	// listedGiven: Listed was set (an empty list lists nobody).
	listedGiven bool `mapstructure:"-"`
}

// load loads lab's settings.
func (c *labConfig) load(cmd *cobra.Command) (globalConfig, error) {
	g, err := loadConfig(cmd, c)
	if err != nil {
		return g, err
	}
	f, err := openConfig(cmd)
	c.listedGiven = err == nil && f.Given(cmd.Name(), localFlags(cmd), "listed")
	return g, err
}

type labXDPModes struct{}

func (labXDPModes) Words() []string { return []string{"generic", "native"} }

func newLabCmd() *cobra.Command {
	d := lab.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Demonstrate the sensor in a throw-away lab of network namespaces (needs root)",
		Long: `Builds a lab of network namespaces joined by a bridge: a sensor host running
the real agent (this binary's "run", XDP on its veth, live measurement with
--out and --reject-log), real Linux clients that connect() to it over IPv6
then IPv4, and Windows- and macOS-like clients whose SYNs come from packet
sockets. The production MTA's reject log, written before the agent starts,
lists some clients' IPv4 addresses (by default the odd-numbered Linux and
Windows clients).

After --duration the agent is stopped with SIGTERM, so it closes every open
attempt and writes its report. The lab prints that report, then a table of
the clients with what the measurement made of them, and checks that the
listed clients' IPv6 attempts are associated with their IPv4 address and
labelled spammer, and the others' are not labelled. It exits 1 otherwise.

Everything it creates (namespaces, veths, bridge, bpffs mount, processes)
is removed at the end, also on Ctrl-C (a second Ctrl-C skips waiting for
the agent). Results stay in --keep DIR (default ./mxsensor-lab-results,
replaced by the next run); --keep "" uses a temporary directory instead.
After a kill -9, "mxsensor lab --cleanup" removes what a lab left behind.

--sensors N (2 to 5) builds a network of sensors instead: N sensor hosts,
each running "run --db --publish --sensor-id sK" with its own reject log
(each listed client listed at one sensor's domain: the first at s1, the
next at s2, ...), a collector host running "collect --embedded-nats", and
"dnsbl --nats" on the second sensor's host. Every client delivers to each
sensor in turn. At the end the lab prints the fleet report (report --db of
the collector's store), checks that every record reached the collector
once, that listed clients are spammers at every sensor in the fleet's view
(a client listed only at s1's domain is one at s2), and that the DNSBL of
the shared list answers for the listed clients' IPv6 addresses only.

Traffic stays inside the lab's namespaces; counts and time are bounded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c labConfig
			g, err := c.load(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			if c.Cleanup {
				if os.Geteuid() != 0 {
					return lab.ErrNotRoot
				}
				if err := netlab.Cleanup(lab.NetlabPrefix); err != nil {
					return err
				}
				n, err := lab.CleanupMounts()
				fmt.Fprintf(cmd.OutOrStdout(), "removed leftover lab namespaces and %d bpffs mounts\n", n)
				return err
			}
			cfg := lab.DefaultConfig()
			cfg.Agent = c.Agent
			if cfg.Agent == "" {
				if cfg.Agent, err = os.Executable(); err != nil {
					return fmt.Errorf("lab: locating this binary for the agent: %w", err)
				}
			}
			cfg.XDPMode = string(c.XDPMode)
			cfg.Duration = c.Duration
			cfg.Linux, cfg.Windows, cfg.MacOS = c.Linux, c.Windows, c.MacOS
			cfg.Sensors = c.Sensors
			// Set, even to nothing, replaces the default choice.
			if c.listedGiven {
				cfg.Listed = c.Listed
				if cfg.Listed == nil {
					cfg.Listed = []string{}
				}
			}
			cfg.OutDir = c.Keep
			cfg.Stdout = cmd.OutOrStdout()

			// First SIGINT/SIGTERM: stop the clients, let the agent flush,
			// clean up. Second: kill the agent at once, still clean up.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			kill := make(chan struct{})
			cfg.Kill = kill
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			go func() {
				n := 0
				for range sigs {
					n++
					switch n {
					case 1:
						log.Warn("lab interrupted: stopping the agent and removing the lab (again to skip waiting for the agent)")
						cancel()
					case 2:
						close(kill)
					}
				}
			}()
			_, err = lab.Run(ctx, cfg, log.Named("lab"))
			if errors.Is(err, lab.ErrInterrupted) {
				log.Warn("lab interrupted; everything it created was removed")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Duration("duration", d.Duration, "how long the clients send (every client makes at least one delivery)")
	f.Int("linux", d.Linux, fmt.Sprintf("real Linux clients (0-%d)", lab.MaxPerKind))
	f.Int("windows", d.Windows, fmt.Sprintf("Windows-like raw-socket clients (0-%d)", lab.MaxPerKind))
	f.Int("macos", d.MacOS, fmt.Sprintf("macOS-like raw-socket clients (0-%d)", lab.MaxPerKind))
	f.Int("sensors", d.Sensors, fmt.Sprintf("sensors: 1, or 2-%d for a network of sensors with a collector, its shared list and a DNSBL of it", lab.MaxSensors))
	f.StringSlice("listed", nil, "clients whose IPv4 the reject log lists, by name (lin1, win1, mac1, ...; default: odd-numbered Linux and Windows clients)")
	config.ChoiceVar[labXDPModes](f, "xdp-mode", d.XDPMode, "XDP mode of the sensor: generic, or native (then an XDP_PASS program goes on the bridge's end of the veth)")
	f.String("keep", d.OutDir, `keep the results in this directory (replaced if an earlier lab's); "" = temporary, removed at the end`)
	f.String("agent", "", "mxsensor binary to run as the agent (default: this one)")
	f.Bool("cleanup", false, "only remove what labs killed with -9 left behind (namespaces, bpffs mounts), then exit")
	_ = f.MarkHidden("agent")
	return cmd
}
