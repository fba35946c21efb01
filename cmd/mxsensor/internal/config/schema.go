package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Validator is a config struct that checks its values beyond their types.
type Validator interface{ Validate() error }

// Section is what a section of the configuration file may hold: the
// settings of a command, or the `global` ones.
type Section struct {
	Name string
	// Help is the command's one-line description, written above its
	// section in the example.
	Help string
	// Flags are the settings (see Settings); hidden ones load but are
	// neither dumped nor written in the example.
	Flags *pflag.FlagSet
	// New returns a new config struct of the section; nil for a command
	// that reads no section.
	New func() any
	// Listed: the section is named where the sections are listed, and
	// written in the example (a command users see, with settings).
	Listed bool
}

// Schema is every section the configuration file may hold.
type Schema struct {
	global   Section
	commands []Section // sorted by name
}

// NewSchema returns the schema of the global section and the commands'.
func NewSchema(global Section, commands []Section) *Schema {
	s := &Schema{global: global, commands: slices.Clone(commands)}
	slices.SortFunc(s.commands, func(a, b Section) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Settings are the flags of fs that are settings of a section: all but
// --config and --help.
func Settings(name string, fs *pflag.FlagSet) *pflag.FlagSet {
	out := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			out.AddFlag(f)
		}
	})
	return out
}

func (s *Schema) command(name string) *Section {
	for i := range s.commands {
		if s.commands[i].Name == name {
			return &s.commands[i]
		}
	}
	return nil
}

// names are the listed commands' names.
func (s *Schema) names() []string {
	var n []string
	for _, c := range s.commands {
		if c.Listed {
			n = append(n, c.Name)
		}
	}
	return n
}

func (s *Schema) noSuchSection(f *File, section string) error {
	return fmt.Errorf("%s: %s: no such command (sections: global, %s)", f.Path, section, strings.Join(s.names(), ", "))
}

// CheckSections says which sections of f name no command.
func (s *Schema) CheckSections(f *File) error {
	var errs []error
	for _, name := range f.Sections() {
		if name != s.global.Name && s.command(name) == nil {
			errs = append(errs, s.noSuchSection(f, name))
		}
	}
	return errors.Join(errs...)
}

// Check loads every section of f as its command would and checks it
// (Validator): what `config check` does.
func (s *Schema) Check(f *File) error {
	var errs []error
	for _, name := range f.Sections() {
		errs = append(errs, s.checkSection(f, name))
	}
	return errors.Join(errs...)
}

func (s *Schema) checkSection(f *File, name string) error {
	if name == s.global.Name {
		return f.Load(name, s.global.Flags, s.global.New())
	}
	c := s.command(name)
	if c == nil || c.New == nil {
		return s.noSuchSection(f, name)
	}
	out := c.New()
	if err := f.Load(name, c.Flags, out); err != nil {
		return err
	}
	if v, ok := out.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%s: %s: %w", f.Path, name, err)
		}
	}
	return nil
}

// Command returns the section of the command name, which must read one.
func (s *Schema) Command(name string) (*Section, error) {
	c := s.command(name)
	if c == nil || c.New == nil {
		return nil, fmt.Errorf("no command %q (have %s)", name, strings.Join(s.names(), ", "))
	}
	return c, nil
}

// Global is the global section.
func (s *Schema) Global() *Section { return &s.global }

// WriteValues writes a section with the values of cfg, its loaded config
// struct, in the order of its flags: what `config dump` prints.
func WriteValues(w io.Writer, sec *Section, cfg any) error {
	vals := Values(cfg)
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", sec.Name)
	sec.Flags.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			fmt.Fprintf(&b, "  %s: %s\n", f.Name, yamlValue(vals[f.Name]))
		}
	})
	_, err := io.WriteString(w, b.String())
	return err
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

// yamlDefault renders a flag's default for YAML.
func yamlDefault(f *pflag.Flag) string {
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

// writeExample writes sec's settings commented out at their defaults,
// each under its help.
func writeExample(b *strings.Builder, sec *Section) {
	fmt.Fprintf(b, "%s:\n", sec.Name)
	sec.Flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		for _, line := range strings.Split(f.Usage, "\n") {
			fmt.Fprintf(b, "  # %s\n", line)
		}
		fmt.Fprintf(b, "  #%s: %s\n", f.Name, yamlDefault(f))
	})
}

// hasSettings says whether sec has a setting that is not hidden.
func (sec *Section) hasSettings() bool {
	var n int
	sec.Flags.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			n++
		}
	})
	return n > 0
}

// WriteExample writes an annotated configuration file with every listed
// section and every setting commented out at its default, under its help:
// what `config example` prints (docs/mxsensor.example.yaml).
func (s *Schema) WriteExample(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# mxsensor configuration (generated by `mxsensor config example`).\n")
	b.WriteString("# Read from --config FILE, $MXSENSOR_CONFIG, or " + DefaultFile + ".\n")
	b.WriteString("# One section per command, named after it, plus `global`. Every setting is\n")
	b.WriteString("# the command's flag of the same name; MXSENSOR_<NAME> environment variables\n")
	b.WriteString("# override the file, and flags override both. Uncomment what you change.\n")
	writeExample(&b, &s.global)
	for i := range s.commands {
		c := &s.commands[i]
		if !c.Listed || !c.hasSettings() {
			continue
		}
		b.WriteString("\n# " + c.Help + "\n")
		writeExample(&b, c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
