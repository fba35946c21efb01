package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

// runConfig is run's section: the agent's settings.
type runConfig struct {
	Iface                string          `mapstructure:"iface"`
	XDPMode              xdpMode         `mapstructure:"xdp-mode"`
	PinDir               string          `mapstructure:"pin-dir"`
	Events               string          `mapstructure:"events"`
	PcapOut              string          `mapstructure:"pcap-out"`
	PcapRotateSize       config.Size     `mapstructure:"pcap-rotate-size"`
	PcapKeep             int             `mapstructure:"pcap-keep"`
	FlushInterval        time.Duration   `mapstructure:"flush-interval"`
	Out                  string          `mapstructure:"out"`
	RejectLog            []string        `mapstructure:"reject-log"`
	RejectPattern        []string        `mapstructure:"reject-pattern"`
	AssocMode            assocMode       `mapstructure:"assoc-mode"`
	MinScore             float64         `mapstructure:"min-score"`
	P0fDB                string          `mapstructure:"p0f-db"`
	TZ                   string          `mapstructure:"tz"`
	EnrichOut            string          `mapstructure:"enrich-out"`
	Resolver             config.HostPort `mapstructure:"resolver"`
	DNSBL                []string        `mapstructure:"dnsbl"`
	ASNTable             string          `mapstructure:"asn-table"`
	PTRTable             string          `mapstructure:"ptr-table"`
	NoCymru              bool            `mapstructure:"no-cymru"`
	NoReport             bool            `mapstructure:"no-report"`
	HeldMemory           config.Size     `mapstructure:"held-memory"`
	storeOptions         `mapstructure:",squash"`
	CPUProfile           string        `mapstructure:"cpuprofile"`
	ReadyFile            string        `mapstructure:"ready-file"`
	DegradedHold         time.Duration `mapstructure:"degraded-hold"`
	Window               time.Duration `mapstructure:"window"`
	Horizon              time.Duration `mapstructure:"horizon"`
	liveDataplaneOptions `mapstructure:",squash"`
	MetricsListen        config.HostPort `mapstructure:"metrics-listen"`
	publishOptions       `mapstructure:",squash"`
	KeepCaps             bool `mapstructure:"keep-caps"`
}

// Validate checks what the agent would refuse at start, but the interface.
func (c *runConfig) Validate() error {
	if _, err := c.sensor(); err != nil {
		return err
	}
	if _, err := heldMemory(c.HeldMemory); err != nil {
		return err
	}
	if _, err := rejectPatterns(c.RejectPattern); err != nil {
		return err
	}
	if err := checkAssociation(c.MinScore, associate.DefaultConfig().Margin, nil); err != nil {
		return err
	}
	if len(c.Publish) > 0 && c.DB == "" {
		return errPublishNoStore
	}
	if err := c.publishOptions.Validate(); err != nil {
		return err
	}
	return c.storeOptions.Validate()
}

// sensor is the sensor's configuration (without Prepare).
func (c *runConfig) sensor() (sensor.Config, error) {
	cfg := sensor.DefaultConfig()
	cfg.Iface = c.Iface
	cfg.XDPMode = c.XDPMode.AttachMode
	cfg.PinRoot = c.PinDir
	cfg.ReadyFile = c.ReadyFile
	cfg.FlushInterval = c.FlushInterval
	cfg.DegradedHold = c.DegradedHold
	cfg.DropCaps = !c.KeepCaps
	var err error
	cfg.Dataplane, err = c.liveDataplaneOptions.config()
	return cfg, err
}

// enrich is the enricher's configuration (--enrich-out).
func (c *runConfig) enrich() enrich.Config {
	ecfg := enrich.DefaultConfig()
	ecfg.Resolver = string(c.Resolver)
	ecfg.DNSBLZones = c.DNSBL
	ecfg.ASNTable = c.ASNTable
	if c.NoCymru {
		ecfg.CymruOriginZone, ecfg.CymruOrigin6Zone, ecfg.CymruASNZone = "", "", ""
	}
	return ecfg
}

// pipeline are the live measurement's settings (--out, --db); what run
// has no flag for is the pipeline's default.
func (c *runConfig) pipeline() pipelineOptions {
	a := associate.DefaultConfig()
	return pipelineOptions{Mode: c.AssocMode.Mode, TZ: c.TZ, RejectLog: c.RejectLog, RejectPattern: c.RejectPattern, P0fDB: c.P0fDB, SpamWindow: 24 * time.Hour,
		Window: c.Window, Horizon: c.Horizon, MinScore: c.MinScore, Margin: a.Margin,
		ASNTable: c.ASNTable, PTRTable: c.PTRTable, HeldMemory: c.HeldMemory}
}

// agent is the agent's configuration. It also loads the measurement's files
// (fingerprint database, ASN and PTR tables) when the measurement is on
// (--out or --db).
func (c *runConfig) agent(cmd *cobra.Command, log *zap.Logger) (agent.Config, error) {
	var cfg agent.Config
	var err error
	if cfg.Sensor, err = c.sensor(); err != nil {
		return cfg, err
	}
	if cfg.Sensor.Iface == "" {
		return cfg, errors.New("no interface given (--iface)")
	}
	cfg.Events = c.Events
	if cfg.Pcap.Path = c.PcapOut; cfg.Pcap.Path != "" {
		cfg.Pcap.RotateSize, cfg.Pcap.Keep = int64(c.PcapRotateSize.Bytes()), c.PcapKeep
	}
	// The store: results survive restarts, and a journal of the last
	// minutes of SYNs is replayed after a crash.
	if cfg.Store.Path, cfg.Store.Config, err = c.storeOptions.config(); err != nil {
		return cfg, err
	}
	cfg.OutDir = c.Out
	if cfg.OutDir != "" || cfg.Store.Path != "" {
		m, err := readMeasurement(cmd, log, c.pipeline())
		if err != nil {
			return cfg, err
		}
		cfg.Pipeline, cfg.Fingerprints, cfg.Names = m.cfg, m.db, m.names
		cfg.RejectLog = agent.RejectLogConfig{Paths: c.RejectLog, Location: m.loc, Window: m.window, Patterns: m.patterns}
	}
	if cfg.Enrich.Out = c.EnrichOut; cfg.Enrich.Out != "" {
		cfg.Enrich.Config = c.enrich()
	}
	cfg.Metrics = agent.MetricsConfig{Listen: string(c.MetricsListen), Version: version}
	if len(c.Publish) > 0 && cfg.Store.Path == "" {
		return cfg, errPublishNoStore
	}
	d := *c
	d.NATSPassword = ""
	if cfg.Publish, err = c.publishOptions.config(configDigest(d)); err != nil {
		return cfg, err
	}
	if cfg.Publish != nil {
		cfg.Publish.Status = statusInterval
	}
	return cfg, nil
}
