package main

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"go.yaml.in/yaml/v3"
)

// Configuration: every flag of every command can also come from the YAML
// file named by --config (or MXSENSOR_CONFIG), in a section named after the
// command, and from an MXSENSOR_* environment variable (MXSENSOR_XDP_MODE
// for --xdp-mode). A flag on the command line wins over the environment,
// which wins over the file, which wins over the default. Values are parsed
// by the flags themselves, so a wrong type is an error naming its key, and
// a key that names no flag of its section is an error too.
//
//	global:          # the flags of every command (log-level, log-format)
//	  log-format: json
//	run:
//	  iface: eth0
//	  reject-log: [/var/log/mail.log]

// DefaultConfigFile is read when it exists and no --config is given.
const DefaultConfigFile = "/etc/mxsensor/mxsensor.yaml"

const envPrefix = "MXSENSOR_"

// envName is the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configFile returns the file to read and whether it was asked for
// explicitly (then it must exist).
func configFile(cmd *cobra.Command) (string, bool) {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if p, ok := os.LookupEnv(envPrefix + "CONFIG"); ok {
		return p, p != ""
	}
	return DefaultConfigFile, false
}

// readConfig reads a YAML configuration file into its sections.
func readConfig(path string) (map[string]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]map[string]any{}
	for section, v := range raw {
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s: want a mapping of settings, got %T", path, section, v)
		}
		out[section] = m
	}
	return out, nil
}

// configValue turns a YAML value into a flag's string form.
func configValue(v any) (string, error) {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := configValue(e)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("list element %q contains a comma", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("want a value, got a mapping")
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return fmt.Sprint(v), nil
}

// sectionFlags are the flags a configuration section may set for cmd.
func sectionFlags(cmd *cobra.Command, section string) *pflag.FlagSet {
	if section == "global" {
		return cmd.Root().PersistentFlags()
	}
	return cmd.LocalNonPersistentFlags()
}

// applySection sets the flags of one section from the file, unless the
// command line already set them. It returns every problem, not the first.
func applySection(fs *pflag.FlagSet, path, section string, settings map[string]any) []error {
	var errs []error
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "config" || f.Hidden {
			errs = append(errs, fmt.Errorf("%s: %s.%s: unknown setting (valid: %s)", path, section, k, strings.Join(flagNames(fs), ", ")))
			continue
		}
		if f.Changed {
			continue
		}
		s, err := configValue(settings[k])
		if err == nil {
			err = setFlag(f, s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s.%s: %v", path, section, k, err))
		}
	}
	return errs
}

// setFlag sets a flag as if from the command line (slices are replaced, not
// appended to) without marking it changed.
func setFlag(f *pflag.Flag, s string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if s == "" {
			return sv.Replace(nil)
		}
		return sv.Replace(strings.Split(s, ","))
	}
	return f.Value.Set(s)
}

func flagNames(fs *pflag.FlagSet) []string {
	var n []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "config" && f.Name != "help" {
			n = append(n, f.Name)
		}
	})
	return n
}

// applyConfig fills cmd's flags from the configuration file and the
// environment (see the top of this file).
func applyConfig(cmd *cobra.Command) error {
	path, explicit := configFile(cmd)
	var errs []error
	sections, err := readConfig(path)
	switch {
	case err == nil:
		for section, settings := range sections {
			switch {
			case section == "global":
				errs = append(errs, applySection(sectionFlags(cmd, section), path, section, settings)...)
			case section == cmd.Name():
				errs = append(errs, applySection(sectionFlags(cmd, section), path, section, settings)...)
			case cmd.Root().Name() == "mxsensor" && findCommand(cmd.Root(), section) == nil:
				errs = append(errs, fmt.Errorf("%s: %s: no such command (sections: global, %s)", path, section, strings.Join(commandNames(cmd.Root()), ", ")))
			}
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return fmt.Errorf("configuration: %w", err)
	}
	// The environment, over the file: parsed by the flags too.
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" {
			return
		}
		if s, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := setFlag(f, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", envName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// Sizes (--ring-size, --pcap-rotate-size): a whole or decimal number of
// bytes with an optional unit, case ignored. K, M, G, T alone or with "iB"
// are binary (1024^n); with "B" they are decimal (1000^n), as IEC 80000-13
// writes them; "B" or nothing is bytes. A fraction must come to whole bytes
// (1.5MiB is 1572864; 1.5B is an error). Anything else is rejected, with
// the key named, rather than read as its leading digits.
var sizeUnits = map[string]uint64{"": 1, "b": 1}

func init() {
	m := uint64(1)
	d := uint64(1)
	for _, p := range []string{"k", "m", "g", "t"} {
		m, d = m<<10, d*1000
		sizeUnits[p], sizeUnits[p+"ib"], sizeUnits[p+"b"] = m, m, d
	}
}

const sizeUnitList = "B, K, KiB, KB, M, MiB, MB, G, GiB, GB, T, TiB or TB"

// maxSizeText bounds the text parseSize looks at.
const maxSizeText = 64

// parseSize parses a size (see sizeUnits) into bytes, at most MaxInt64.
func parseSize(text string) (uint64, error) {
	s := strings.TrimSpace(text)
	bad := func(why string, a ...any) error {
		return fmt.Errorf("invalid size %q: %s", text, fmt.Sprintf(why, a...))
	}
	if s == "" {
		return 0, bad("empty")
	}
	if len(s) > maxSizeText {
		return 0, bad("longer than %d characters", maxSizeText)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	whole, frac, dot := strings.Cut(num, ".")
	switch {
	case strings.ContainsAny(s, " \t"):
		return 0, bad("no spaces allowed")
	case num == "":
		return 0, bad("want a number of bytes and an optional unit, as 4096, 64KiB or 1.5MB")
	case whole == "" || dot && frac == "" || strings.Contains(frac, "."):
		return 0, bad("malformed number %q", num)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, bad("unknown unit %q (want %s)", unit, sizeUnitList)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, bad("malformed number %q", num)
	}
	r.Mul(r, new(big.Rat).SetUint64(mult))
	if !r.IsInt() {
		return 0, bad("not a whole number of bytes")
	}
	if r.Num().BitLen() > 63 {
		return 0, bad("too large")
	}
	return r.Num().Uint64(), nil
}

// sizeValue is a size flag: it checks its value when set, from the command
// line, the environment or the file alike, and keeps the text as written.
type sizeValue struct {
	text  string
	bytes uint64
}

func newSizeValue(def string) *sizeValue {
	v := &sizeValue{}
	if err := v.Set(def); err != nil {
		panic(err)
	}
	return v
}

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	v.text, v.bytes = strings.TrimSpace(s), n
	return nil
}

func (v *sizeValue) String() string { return v.text }
func (v *sizeValue) Type() string   { return "size" }

// sizeFlag returns the bytes of a size flag read through viper.
func sizeFlag(v *viper.Viper, name string) (uint64, error) {
	n, err := parseSize(v.GetString(name))
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return n, nil
}

// choiceValue is a flag taking one of a few words (case ignored), checked
// when set.
type choiceValue struct {
	val     string
	choices []string
}

func (v *choiceValue) Set(s string) error {
	l := strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(v.choices, l) {
		return fmt.Errorf("unknown value %q (want %s)", s, strings.Join(v.choices, ", "))
	}
	v.val = l
	return nil
}

func (v *choiceValue) String() string { return v.val }
func (v *choiceValue) Type() string   { return "string" }

// semanticChecks validate a section's values beyond their types, as the
// command would when it starts.
var semanticChecks = map[string]func(v *viper.Viper) error{
	"run": func(v *viper.Viper) error {
		if _, err := dataplane.ParseAttachMode(v.GetString("xdp-mode")); err != nil {
			return err
		}
		if _, err := dataplaneConfig(v, true); err != nil {
			return err
		}
		if _, err := sizeFlag(v, "pcap-rotate-size"); err != nil {
			return err
		}
		if _, err := associate.ParseMode(v.GetString("assoc-mode")); err != nil {
			return err
		}
		if _, err := heldMemory(v); err != nil {
			return err
		}
		if v.GetDuration("db-flush") <= 0 || v.GetDuration("db-journal") < 0 || v.GetInt("db-sample-syns") < 0 || v.GetDuration("db-retention") < 0 {
			return errors.New("db-flush must be > 0, and db-journal, db-sample-syns, db-retention >= 0")
		}
		if a := v.GetString("metrics-listen"); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("metrics-listen: %w", err)
			}
		}
		return nil
	},
	"analyze": func(v *viper.Viper) error {
		if _, err := heldMemory(v); err != nil {
			return err
		}
		_, err := associate.ParseMode(v.GetString("mode"))
		return err
	},
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

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check, show or write the YAML configuration"}
	check := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Check every section of the configuration file against the commands' settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := configFile(cmd)
			sections, err := readConfig(path)
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			var errs []error
			names := make([]string, 0, len(sections))
			for s := range sections {
				names = append(names, s)
			}
			sort.Strings(names)
			for _, section := range names {
				var fs *pflag.FlagSet
				if section == "global" {
					fs = pflag.NewFlagSet("global", pflag.ContinueOnError)
					fs.AddFlagSet(cmd.Root().PersistentFlags())
				} else if c := findCommand(newRootCmd(), section); c != nil && section != "config" {
					fs = c.LocalNonPersistentFlags()
				} else {
					errs = append(errs, fmt.Errorf("%s: %s: no such command (sections: global, %s)", path, section, strings.Join(commandNames(cmd.Root()), ", ")))
					continue
				}
				serrs := applySection(fs, path, section, sections[section])
				if v := semanticChecks[section]; v != nil && len(serrs) == 0 {
					vp := viper.New()
					if err := vp.BindPFlags(fs); err == nil {
						if err := v(vp); err != nil {
							serrs = append(serrs, fmt.Errorf("%s: %s: %w", path, section, err))
						}
					}
				}
				errs = append(errs, serrs...)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d sections)\n", path, len(sections))
			return nil
		},
	}
	dump := &cobra.Command{
		Use:   "dump COMMAND [--config FILE]",
		Short: "Print the settings COMMAND would run with (defaults, file, environment), as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := newRootCmd()
			c := findCommand(root, args[0])
			if c == nil || c.Name() == "config" {
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
			if err := applyConfig(c); err != nil {
				return err
			}
			return writeSettings(cmd.OutOrStdout(), c, false)
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

// yamlScalar renders a flag's value for YAML.
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

// writeSettings prints a section with the current values of c's flags.
func writeSettings(w io.Writer, c *cobra.Command, comments bool) error {
	var b strings.Builder
	global := c.Root().PersistentFlags()
	b.WriteString("global:\n")
	global.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "help" || f.Hidden {
			return
		}
		if comments {
			fmt.Fprintf(&b, "  # %s\n", f.Usage)
		}
		fmt.Fprintf(&b, "  %s: %s\n", f.Name, yamlScalar(f))
	})
	writeSection(&b, c, comments)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSection(b *strings.Builder, c *cobra.Command, comments bool) {
	fmt.Fprintf(b, "%s:\n", c.Name())
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		if comments {
			for _, line := range strings.Split(f.Usage, "\n") {
				fmt.Fprintf(b, "  # %s\n", line)
			}
			fmt.Fprintf(b, "  #%s: %s\n", f.Name, yamlScalar(f))
			return
		}
		fmt.Fprintf(b, "  %s: %s\n", f.Name, yamlScalar(f))
	})
}

// writeExample prints every section with every setting commented out at
// its default, with its help: docs/mxsensor.example.yaml is its output.
func writeExample(w io.Writer, root *cobra.Command) error {
	var b strings.Builder
	b.WriteString("# mxsensor configuration (generated by `mxsensor config example`).\n")
	b.WriteString("# Read from --config FILE, $MXSENSOR_CONFIG, or " + DefaultConfigFile + ".\n")
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
		writeSection(&b, c, true)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
