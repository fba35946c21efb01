package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/config"
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

// validator is a config struct that checks its values beyond their types.
type validator interface{ Validate() error }

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
	fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" {
			fs.AddFlag(f)
		}
	})
	return fs
}

// localFlags are the settings of cmd's section.
func localFlags(cmd *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			fs.AddFlag(f)
		}
	})
	return fs
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
		for _, s := range f.Sections() {
			if s != "global" && findCommand(root, s) == nil {
				errs = append(errs, noSuchSection(f, root, s))
			}
		}
	}
	errs = append(errs, f.Load("global", globalFlags(root), &g), f.Load(cmd.Name(), localFlags(cmd), out))
	if err := errors.Join(errs...); err != nil {
		return g, err
	}
	if v, ok := out.(validator); ok {
		return g, v.Validate()
	}
	return g, nil
}

func noSuchSection(f *config.File, root *cobra.Command, section string) error {
	return fmt.Errorf("%s: %s: no such command (sections: global, %s)", f.Path, section, strings.Join(commandNames(root), ", "))
}

func findCommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

func commandNames(root *cobra.Command) []string {
	var n []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "config" && c.Name() != "help" && c.Name() != "completion" {
			n = append(n, c.Name())
		}
	}
	slices.Sort(n)
	return n
}

// checkSection loads one section of f as the command would, and checks it.
func checkSection(f *config.File, root *cobra.Command, section string) error {
	if section == "global" {
		return f.Load("global", globalFlags(root), new(globalConfig))
	}
	c, mk := findCommand(root, section), commandConfigs[section]
	if c == nil || mk == nil {
		return noSuchSection(f, root, section)
	}
	out := mk()
	if err := f.Load(section, localFlags(c), out); err != nil {
		return err
	}
	if v, ok := out.(validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%s: %s: %w", f.Path, section, err)
		}
	}
	return nil
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
			root := newRootCmd()
			var errs []error
			for _, section := range f.Sections() {
				errs = append(errs, checkSection(f, root, section))
			}
			if err := errors.Join(errs...); err != nil {
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
			c, mk := findCommand(root, args[0]), commandConfigs[args[0]]
			if c == nil || mk == nil {
				return fmt.Errorf("no command %q (have %s)", args[0], strings.Join(commandNames(root), ", "))
			}
			if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
				if err := root.PersistentFlags().Set("config", f.Value.String()); err != nil {
					return err
				}
			}
			if err := c.ParseFlags(nil); err != nil { // merges the root's persistent flags into c's
				return err
			}
			out := mk()
			g, err := loadConfig(c, out)
			if err != nil {
				return err
			}
			var b strings.Builder
			writeValues(&b, "global", globalFlags(root), &g)
			writeValues(&b, c.Name(), localFlags(c), out)
			_, err = io.WriteString(cmd.OutOrStdout(), b.String())
			return err
		},
	}
	example := &cobra.Command{
		Use:   "example",
		Short: "Print an annotated configuration file with every setting at its default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeExample(cmd.OutOrStdout(), newRootCmd())
		},
	}
	cmd.AddCommand(check, dump, example)
	return cmd
}

// writeValues prints a section with the values of a loaded config struct,
// in the order of its flags.
func writeValues(b *strings.Builder, section string, fs *pflag.FlagSet, cfg any) {
	vals := config.Values(cfg)
	fmt.Fprintf(b, "%s:\n", section)
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			fmt.Fprintf(b, "  %s: %s\n", f.Name, yamlValue(vals[f.Name]))
		}
	})
}

// yamlValue renders a setting's value for YAML: lists and text quoted,
// numbers and booleans bare.
func yamlValue(x any) string {
	if s, ok := x.(fmt.Stringer); ok {
		return strconv.Quote(s.String())
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice:
		q := make([]string, rv.Len())
		for i := range q {
			q[i] = strconv.Quote(fmt.Sprint(rv.Index(i).Interface()))
		}
		return "[" + strings.Join(q, ", ") + "]"
	case reflect.String:
		return strconv.Quote(rv.String())
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(x)
}

// yamlScalar renders a flag's default for YAML.
func yamlScalar(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		items := sv.GetSlice()
		if len(items) == 0 {
			return "[]"
		}
		q := make([]string, len(items))
		for i, s := range items {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	switch f.Value.Type() {
	case "bool", "int", "uint", "float64", "uint16", "int64":
		return f.Value.String()
	}
	return strconv.Quote(f.Value.String())
}

func writeSection(b *strings.Builder, c *cobra.Command) {
	fmt.Fprintf(b, "%s:\n", c.Name())
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		for _, line := range strings.Split(f.Usage, "\n") {
			fmt.Fprintf(b, "  # %s\n", line)
		}
		fmt.Fprintf(b, "  #%s: %s\n", f.Name, yamlScalar(f))
	})
}

// writeExample prints every section with every setting commented out at
// its default, with its help: docs/mxsensor.example.yaml is its output.
func writeExample(w io.Writer, root *cobra.Command) error {
	var b strings.Builder
	b.WriteString("# mxsensor configuration (generated by `mxsensor config example`).\n")
	b.WriteString("# Read from --config FILE, $MXSENSOR_CONFIG, or " + config.DefaultFile + ".\n")
	b.WriteString("# One section per command, named after it, plus `global`. Every setting is\n")
	b.WriteString("# the command's flag of the same name; MXSENSOR_<NAME> environment variables\n")
	b.WriteString("# override the file, and flags override both. Uncomment what you change.\n")
	b.WriteString("global:\n")
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Hidden {
			return
		}
		fmt.Fprintf(&b, "  # %s\n  #%s: %s\n", f.Usage, f.Name, yamlScalar(f))
	})
	cmds := root.Commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	for _, c := range cmds {
		if !c.IsAvailableCommand() || c.Name() == "config" || c.Name() == "help" || c.Name() == "completion" || !c.HasAvailableLocalFlags() {
			continue
		}
		b.WriteString("\n# " + c.Short + "\n")
		writeSection(&b, c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
