package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// detachConfig is detach's section.
type detachConfig struct {
	Iface  string `mapstructure:"iface"`
	PinDir string `mapstructure:"pin-dir"`
}

func newDetachCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "detach --iface IF",
		Short: "Remove what a sensor that was killed (kill -9) left behind: its pinned link keeps the program attached",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c detachConfig
			if _, err := loadConfig(cmd, &c); err != nil {
				return err
			}
			iface := c.Iface
			if iface == "" {
				return fmt.Errorf("--iface is required")
			}
			dir := filepath.Join(c.PinDir, iface)
			p, err := dataplane.OpenPinned(dir) // nothing pinned: ErrNotRunning
			if err != nil {
				return err
			}
			p.Close()
			if err := dataplane.RemovePinned(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed sensor state in %s\n", dir)
			return nil
		},
	}
	cmd.Flags().String("iface", "", "interface of the sensor")
	cmd.Flags().String("pin-dir", dataplane.DefaultPinRoot, "bpffs directory the sensor pinned under")
	return cmd
}
