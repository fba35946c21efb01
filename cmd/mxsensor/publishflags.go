package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/agent"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/publish"
)

// publishOptions are the settings of --publish, shared by run and analyze:
// the sensor's records go to the network of sensors' NATS servers.
type publishOptions struct {
	SensorID    string      `mapstructure:"sensor-id"`
	Publish     []string    `mapstructure:"publish"`
	PublishSyns bool        `mapstructure:"publish-syns"`
	OutboxSize  config.Size `mapstructure:"outbox-size"`
	natsOptions `mapstructure:",squash"`
}

// addPublishFlags adds --sensor-id, --publish, the NATS credentials,
// --publish-syns and --outbox-size.
func addPublishFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("sensor-id", "", "this sensor's id in the network of sensors (letters, digits, '_', '-'; default: the host name's first label)")
	f.StringSlice("publish", nil, "publish the records to the network of sensors' NATS JetStream servers (nats://HOST:PORT, several for a cluster)")
	f.Bool("publish-syns", false, "with --publish: publish every SYN event too (much more traffic)")
	config.SizeVar(f, "outbox-size", "256MiB", "with --publish: bound of the records waiting for the servers in the store's outbox (past it SYN events are dropped first; results only when nothing else is left, counted and logged)")
	addNATSFlags(cmd)
}

// Validate checks the sensor id and the credentials.
func (o publishOptions) Validate() error {
	if o.SensorID != "" {
		if err := fleet.ValidSensorID(o.SensorID); err != nil {
			return fmt.Errorf("--sensor-id: %w", err)
		}
	}
	if len(o.Publish) > 0 {
		if err := o.conn(o.Publish, "").Validate(); err != nil {
			return fmt.Errorf("--publish: %w", err)
		}
	}
	return o.natsOptions.Validate()
}

// sensorID is --sensor-id, or the host name's.
func (o publishOptions) sensorID() (string, error) {
	if o.SensorID != "" {
		return o.SensorID, fleet.ValidSensorID(o.SensorID)
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("--sensor-id not given, and no host name: %w", err)
	}
	return fleet.SensorIDFromHost(host), nil
}

// config is the publisher's configuration (nil without --publish); digest
// is the configuration's, for the status.
func (o publishOptions) config(digest string) (*agent.PublishConfig, error) {
	if len(o.Publish) == 0 {
		return nil, nil
	}
	id, err := o.sensorID()
	if err != nil {
		return nil, err
	}
	c := publish.DefaultConfig()
	c.Sensor = id
	c.Conn = o.conn(o.Publish, "mxsensor "+id)
	c.SYNs = o.PublishSyns
	c.Version, c.ConfigDigest = version, digest
	if err := c.Conn.Validate(); err != nil {
		return nil, fmt.Errorf("--publish: %w", err)
	}
	return &agent.PublishConfig{Config: c, OutboxSize: int64(o.OutboxSize.Bytes())}, nil
}

// errPublishNoStore is run's refusal of --publish without --db.
var errPublishNoStore = errors.New("--publish needs the store (--db): the records wait in its outbox until the servers acknowledge them")

// configDigest is a short digest of a command's settings (the password
// left out), for the status a sensor publishes.
func configDigest(v any) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%+v", v))
	return hex.EncodeToString(h[:8])
}

// statusInterval is how often run publishes its status.
const statusInterval = 30 * time.Second
