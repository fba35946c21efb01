package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/report"
)

// Configuration: every flag of every command can also come from the YAML
// file named by --config (or MXSENSOR_CONFIG), in a section named after the
// command, and from an MXSENSOR_* environment variable (MXSENSOR_XDP_MODE
// for --xdp-mode); internal/config loads them into the command's typed
// config struct (runConfig for run, ...), whose `mapstructure` tags are the
// flags' names.
//
//	global:          # the flags of every command (log-level, log-format)
//	  log-format: json
//	run:
//	  iface: eth0
//	  reject-log: [/var/log/mail.log]

// commandConfigs make each command's config struct, by command name:
// config check and dump decode a section into it.
var commandConfigs = map[string]func() any{
	"addr":        func() any { return new(addrConfig) },
	"analyze":     func() any { return new(analyzeConfig) },
	"blocklist":   func() any { return new(blocklistConfig) },
	"collect":     func() any { return new(collectConfig) },
	"detach":      func() any { return new(detachConfig) },
	"dnsbl":       func() any { return new(dnsblConfig) },
	"eval":        func() any { return new(evalConfig) },
	"fingerprint": func() any { return new(fingerprintConfig) },
	"lab":         func() any { return new(labConfig) },
	"lookup":      func() any { return new(lookupConfig) },
	"read":        func() any { return new(readConfig) },
	"rejectlog":   func() any { return new(rejectlogConfig) },
	"report":      func() any { return new(reportCmdConfig) },
	"run":         func() any { return new(runConfig) },
	"stats":       func() any { return new(statsConfig) },
}

// globalConfig is the `global` section: the root's flags.
type globalConfig struct {
	LogLevel  config.Choice[logLevels]  `mapstructure:"log-level"`
	LogFormat config.Choice[logFormats] `mapstructure:"log-format"`
}

type logLevels struct{}

func (logLevels) Words() []string { return []string{"debug", "info", "warn", "error"} }

type logFormats struct{}

func (logFormats) Words() []string { return []string{"console", "json"} }

// Modes whose words (and aliases) the internal packages parse.
type (
	xdpMode   struct{ dataplane.AttachMode }
	replyMode struct{ dataplane.Mode }
	assocMode struct{ associate.Mode }
)

func (m *xdpMode) UnmarshalText(b []byte) (err error) {
	m.AttachMode, err = dataplane.ParseAttachMode(string(b))
	return err
}

func (m *replyMode) UnmarshalText(b []byte) (err error) {
	m.Mode, err = dataplane.ParseMode(string(b))
	return err
}

func (m *assocMode) UnmarshalText(b []byte) (err error) {
	m.Mode, err = associate.ParseMode(string(b))
	return err
}

type reportFormats struct{}

func (reportFormats) Words() []string { return report.Formats }

// openConfig reads the configuration file cmd is to use.
func openConfig(cmd *cobra.Command) (*config.File, error) {
	var path string
	var given bool
	if f := cmd.Flags().Lookup("config"); f != nil {
		path, given = f.Value.String(), f.Changed
	}
	return config.Read(config.Locate(path, given))
}

// globalFlags are the root's flags but --config.
func globalFlags(root *cobra.Command) *pflag.FlagSet {
	return config.Settings("global", root.PersistentFlags())
}

// localFlags are the settings of cmd's section.
func localFlags(cmd *cobra.Command) *pflag.FlagSet {
	return config.Settings(cmd.Name(), cmd.LocalNonPersistentFlags())
}

// configSchema are the sections of root's configuration: global, and a
// section per command.
func configSchema(root *cobra.Command) *config.Schema {
	global := config.Section{Name: "global", Flags: globalFlags(root), New: func() any { return new(globalConfig) }}
	var cmds []config.Section
	for _, c := range root.Commands() {
		name := c.Name()
		cmds = append(cmds, config.Section{Name: name, Help: c.Short, Flags: localFlags(c), New: commandConfigs[name],
			Listed: c.IsAvailableCommand() && name != "config" && name != "help" && name != "completion"})
	}
	return config.NewSchema(global, cmds)
}

// loadConfig loads cmd's settings into out (its config struct) and checks
// them (Validate); it returns the global settings.
func loadConfig(cmd *cobra.Command, out any) (globalConfig, error) {
	var g globalConfig
	f, err := openConfig(cmd)
	if err != nil {
		return g, err
	}
	root := cmd.Root()
	var errs []error
	if root.Name() == "mxsensor" {
		errs = append(errs, configSchema(root).CheckSections(f))
	}
	gerr := f.Load("global", globalFlags(root), &g)
	if gerr == nil {
		// The log format the file or the environment set is the flag's
		// value from now on: an error that ends the command is logged in
		// it too (printError).
		if fl := root.PersistentFlags().Lookup("log-format"); fl != nil && !fl.Changed {
			_ = fl.Value.Set(string(g.LogFormat))
		}
	}
	errs = append(errs, gerr, f.Load(cmd.Name(), localFlags(cmd), out))
	if err := errors.Join(errs...); err != nil {
		return g, err
	}
	if v, ok := out.(config.Validator); ok {
		return g, v.Validate()
	}
	return g, nil
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check, show or write the YAML configuration"}
	check := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Check every section of the configuration file against the commands' settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := openConfig(cmd)
			if err != nil {
				return err
			}
			if err := configSchema(newRootCmd()).Check(f); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d sections)\n", f.Path, len(f.Sections()))
			return nil
		},
	}
	dump := &cobra.Command{
		Use:   "dump COMMAND [--config FILE]",
		Short: "Print the settings COMMAND would run with (defaults, file, environment), as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := newRootCmd()
			schema := configSchema(root)
			sec, err := schema.Command(args[0])
			if err != nil {
				return err
			}
			c, _, err := root.Find(args[:1])
			if err != nil {
				return err
			}
			if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
				if err := root.PersistentFlags().Set("config", f.Value.String()); err != nil {
					return err
				}
			}
			if err := c.ParseFlags(nil); err != nil { // merges the root's persistent flags into c's
				return err
			}
			out := sec.New()
			g, err := loadConfig(c, out)
			if err != nil {
				return err
			}
			var b strings.Builder
			config.WriteValues(&b, schema.Global(), &g)
			config.WriteValues(&b, sec, out)
			_, err = io.WriteString(cmd.OutOrStdout(), b.String())
			return err
		},
	}
	example := &cobra.Command{
		Use:   "example",
		Short: "Print an annotated configuration file with every setting at its default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configSchema(newRootCmd()).WriteExample(cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(check, dump, example)
	return cmd
}
