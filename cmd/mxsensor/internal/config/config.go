// Package config loads a command's settings into its typed struct: the
// YAML file's `global` section and the command's own, the MXSENSOR_*
// environment and the command's flags, with viper; and it holds the flag
// types (sizes, choices, addresses, positive durations) whose parser
// checks a value wherever it comes from.
//
// A flag set on the command line wins over the environment
// (MXSENSOR_XDP_MODE for --xdp-mode), which wins over the file, which wins
// over the flag's default. A key the struct does not have, a value that
// does not parse and a file section naming no command are errors naming
// the key.
//
// A Schema holds every section a file may have, each a set of flags and
// a config struct: it checks a whole file (`config check`), prints the
// values a command would run with (`config dump`) and writes the annotated
// example file (`config example`). cmd builds it from its command tree.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// DefaultFile is read when it exists and no other file is named.
const DefaultFile = "/etc/mxsensor/mxsensor.yaml"

// EnvPrefix starts the environment variable of every setting.
const EnvPrefix = "MXSENSOR_"

// EnvName is the environment variable of a setting.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// Locate returns the file to read: flag (--config) when given, else
// $MXSENSOR_CONFIG, else DefaultFile; explicit says it was named, and then
// it must exist.
func Locate(flag string, flagGiven bool) (path string, explicit bool) {
	if flagGiven {
		return flag, true
	}
	if p, ok := os.LookupEnv(EnvPrefix + "CONFIG"); ok {
		return p, p != ""
	}
	return DefaultFile, false
}

// File is a configuration file's sections of settings.
type File struct {
	Path     string
	sections map[string]map[string]any
}

// Read reads a YAML configuration file. A missing file not named
// explicitly is an empty configuration.
func Read(path string, explicit bool) (*File, error) {
	f := &File{Path: path, sections: map[string]map[string]any{}}
	if path == "" {
		return f, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return f, nil
		}
		return nil, fmt.Errorf("configuration: %s: %w", path, err)
	}
	for section, s := range v.AllSettings() {
		switch m := s.(type) {
		case nil:
		case map[string]any:
			f.sections[section] = m
		default:
			return nil, fmt.Errorf("configuration: %s: %s: want a mapping of settings, got %T", path, section, s)
		}
	}
	return f, nil
}

// Sections are the file's section names, sorted.
func (f *File) Sections() []string {
	n := make([]string, 0, len(f.sections))
	for s := range f.sections {
		n = append(n, s)
	}
	sort.Strings(n)
	return n
}

// Load decodes section's settings into out, a pointer to a struct whose
// `mapstructure` tags are the names of fs's flags (embedded structs with
// ",squash"). The values are the flags set on the command line, then the
// environment, then the file, then the flags' defaults. Every problem is
// reported, not the first, each naming where its value came from:
// "FILE: section.key: ...", "MXSENSOR_KEY: ...".
func (f *File) Load(section string, fs *pflag.FlagSet, out any) error {
	var errs []error
	settings := f.sections[section]
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Each value alone first, so that an error names its key and source.
	for _, k := range keys {
		fl := fs.Lookup(k)
		err := decodeOne(out, k, settings[k])
		if fl == nil || fl.Hidden || errors.Is(err, errUnknown) {
			errs = append(errs, fmt.Errorf("%s: %s.%s: unknown setting (valid: %s)", f.Path, section, k, strings.Join(visibleFlags(fs), ", ")))
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s.%s: %w", f.Path, section, k, err))
		}
	}
	fs.VisitAll(func(fl *pflag.Flag) {
		if s, ok := os.LookupEnv(EnvName(fl.Name)); ok && !fl.Changed {
			if err := decodeOne(out, fl.Name, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(fl.Name), err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	v := viper.New()
	v.SetEnvPrefix(strings.TrimSuffix(EnvPrefix, "_"))
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AllowEmptyEnv(true) // MXSENSOR_EVENTS= turns the events off
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return err
	}
	if err := v.MergeConfigMap(settings); err != nil {
		return err
	}
	if err := v.UnmarshalExact(out, viper.DecodeHook(decodeHook())); err != nil {
		return fmt.Errorf("%s: %w", section, explain(err, true))
	}
	return nil
}

// Given says whether key of section has a value other than its flag's
// default: set on the command line, in the environment or in the file.
func (f *File) Given(section string, fs *pflag.FlagSet, key string) bool {
	if fl := fs.Lookup(key); fl != nil && fl.Changed {
		return true
	}
	if _, ok := os.LookupEnv(EnvName(key)); ok {
		return true
	}
	_, ok := f.sections[section][key]
	return ok
}

func visibleFlags(fs *pflag.FlagSet) []string {
	var n []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "config" && f.Name != "help" {
			n = append(n, f.Name)
		}
	})
	return n
}

// Keys are the setting names of a config struct (out, a pointer), sorted.
func Keys(out any) []string {
	var n []string
	for k := range fields(out) {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// Values are the settings of a config struct (out, a pointer) by name.
func Values(out any) map[string]any {
	m := map[string]any{}
	for k, v := range fields(out) {
		m[k] = v.Interface()
	}
	return m
}
