package main

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/sensor"
)

// agentConfig translates run's flags into the agent's configuration. It
// also loads the measurement's files (fingerprint database, ASN and PTR
// tables) when the measurement is on (--out or --db).
func agentConfig(cmd *cobra.Command, log *zap.Logger, v *viper.Viper) (agent.Config, error) {
	var cfg agent.Config
	var err error
	cfg.Sensor = sensor.DefaultConfig()
	cfg.Sensor.Iface = v.GetString("iface")
	if cfg.Sensor.XDPMode, err = dataplane.ParseAttachMode(v.GetString("xdp-mode")); err != nil {
		return cfg, err
	}
	cfg.Sensor.PinRoot = v.GetString("pin-dir")
	cfg.Sensor.ReadyFile = v.GetString("ready-file")
	cfg.Sensor.FlushInterval = v.GetDuration("flush-interval")
	cfg.Sensor.DegradedHold = v.GetDuration("degraded-hold")
	if cfg.Sensor.Dataplane, err = dataplaneConfig(v, true); err != nil {
		return cfg, err
	}
	if cfg.Sensor.Iface == "" {
		return cfg, errors.New("no interface given (--iface)")
	}
	cfg.Events = v.GetString("events")
	if cfg.Pcap.Path = v.GetString("pcap-out"); cfg.Pcap.Path != "" {
		size, err := sizeFlag(v, "pcap-rotate-size")
		if err != nil {
			return cfg, err
		}
		cfg.Pcap.RotateSize, cfg.Pcap.Keep = int64(size), v.GetInt("pcap-keep")
	}
	// The store: results survive restarts, and a journal of the last
	// minutes of SYNs is replayed after a crash.
	if cfg.Store.Path, cfg.Store.Config, err = storeConfig(v); err != nil {
		return cfg, err
	}
	cfg.OutDir = v.GetString("out")
	if cfg.OutDir != "" || cfg.Store.Path != "" {
		m, err := readMeasurement(cmd, log, v, v.GetString("assoc-mode"))
		if err != nil {
			return cfg, err
		}
		cfg.Pipeline, cfg.Fingerprints, cfg.Names = m.cfg, m.db, m.names
		cfg.RejectLog = agent.RejectLogConfig{Paths: v.GetStringSlice("reject-log"), Location: m.loc, Window: m.window}
	}
	if cfg.Enrich.Out = v.GetString("enrich-out"); cfg.Enrich.Out != "" {
		cfg.Enrich.Config = enrich.DefaultConfig()
		cfg.Enrich.Resolver = v.GetString("resolver")
		cfg.Enrich.DNSBLZones = v.GetStringSlice("dnsbl")
		cfg.Enrich.ASNTable = v.GetString("asn-table")
		if v.GetBool("no-cymru") {
			cfg.Enrich.CymruOriginZone, cfg.Enrich.CymruOrigin6Zone, cfg.Enrich.CymruASNZone = "", "", ""
		}
	}
	cfg.Metrics = agent.MetricsConfig{Listen: v.GetString("metrics-listen"), Version: version}
	return cfg, nil
}
