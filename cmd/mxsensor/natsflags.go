package main

import (
	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/fleet"
)

// natsOptions are a NATS client's credentials, shared by the commands that
// talk to the fleet's servers (run, analyze, collect, dnsbl, blocklist);
// the server URLs are each command's own flag (--publish, --nats).
type natsOptions struct {
	NATSCreds    string `mapstructure:"nats-creds"`
	NATSNKey     string `mapstructure:"nats-nkey"`
	NATSUser     string `mapstructure:"nats-user"`
	NATSPassword string `mapstructure:"nats-password"`
	NATSTLSCA    string `mapstructure:"nats-tls-ca"`
}

// addNATSFlags adds the credentials flags.
func addNATSFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("nats-creds", "", "NATS credentials file (user JWT and nkey seed) of this client")
	f.String("nats-nkey", "", "or: a file holding this client's NATS nkey seed")
	f.String("nats-user", "", "or: NATS user name (with --nats-password)")
	f.String("nats-password", "", "NATS password of --nats-user (prefer MXSENSOR_NATS_PASSWORD or the config file to the command line)")
	f.String("nats-tls-ca", "", "PEM file of the CA the NATS servers' certificates chain to (tls:// URLs)")
}

// conn is the connection configuration to urls, named name on the server.
func (o natsOptions) conn(urls []string, name string) fleet.ConnConfig {
	return fleet.ConnConfig{URLs: urls, Name: name, Creds: o.NATSCreds, NKey: o.NATSNKey,
		User: o.NATSUser, Password: o.NATSPassword, TLSCA: o.NATSTLSCA}
}

// Validate checks that at most one kind of credentials is given.
func (o natsOptions) Validate() error {
	return o.conn([]string{"nats://check:4222"}, "").Validate()
}
