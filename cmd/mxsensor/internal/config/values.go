package config

import (
	"encoding"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// textPtr is a pointer to a T that parses itself.
type textPtr[T any] interface {
	*T
	encoding.TextUnmarshaler
}

// Value is the flag of a setting of type T: the command line's value is
// parsed by T's UnmarshalText, the parser the environment's and the file's
// values go through when the settings are decoded (see Load), so all three
// are checked alike and when they are read.
type Value[T any, P textPtr[T]] struct {
	v   T
	typ string
}

// NewValue returns a flag holding def; typ is the type --help shows
// ("string", "size", "duration").
func NewValue[T any, P textPtr[T]](def T, typ string) *Value[T, P] {
	return &Value[T, P]{v: def, typ: typ}
}

func (f *Value[T, P]) Set(s string) error {
	var x T
	if err := P(&x).UnmarshalText([]byte(s)); err != nil {
		return err
	}
	f.v = x
	return nil
}

func (f *Value[T, P]) String() string { return fmt.Sprint(f.v) }
func (f *Value[T, P]) Type() string   { return f.typ }

// TextVar adds a flag whose value is a T: def is its default.
func TextVar[T any, P textPtr[T]](fs *pflag.FlagSet, name string, def T, usage string) {
	fs.Var(NewValue[T, P](def, "string"), name, usage)
}

// SizeVar adds a size flag (see ParseSize); def is checked.
func SizeVar(fs *pflag.FlagSet, name, def, usage string) {
	fs.Var(NewValue(MustSize(def), "size"), name, usage)
}

// Words is the set of words a Choice takes: its zero value lists them.
type Words interface{ Words() []string }

// Choice is one of the words W lists, lower-cased (case is ignored).
type Choice[W Words] string

func (c Choice[W]) String() string { return string(c) }

func (c *Choice[W]) UnmarshalText(b []byte) error {
	var w W
	s := strings.ToLower(strings.TrimSpace(string(b)))
	if !slices.Contains(w.Words(), s) {
		return fmt.Errorf("unknown value %q (want %s)", string(b), strings.Join(w.Words(), ", "))
	}
	*c = Choice[W](s)
	return nil
}

// ChoiceVar adds a flag taking one of W's words; def is checked.
func ChoiceVar[W Words](fs *pflag.FlagSet, name, def, usage string) {
	var c Choice[W]
	if err := c.UnmarshalText([]byte(def)); err != nil {
		panic(err)
	}
	fs.Var(NewValue(c, "string"), name, usage)
}

// HostPort is a host:port address with a numeric port, or "" where the
// setting allows none (a listener that is off, the system's resolver).
type HostPort string

func (h HostPort) String() string { return string(h) }

func (h *HostPort) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s != "" {
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Errorf("invalid address %q: %w", s, err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("invalid address %q: port %q is not a number from 0 to 65535", s, port)
		}
	}
	*h = HostPort(s)
	return nil
}

// HostPortVar adds an address flag; def is checked.
func HostPortVar(fs *pflag.FlagSet, name, def, usage string) {
	var h HostPort
	if err := h.UnmarshalText([]byte(def)); err != nil {
		panic(err)
	}
	fs.Var(NewValue(h, "string"), name, usage)
}

// PositiveDuration is a duration greater than zero.
type PositiveDuration time.Duration

func (d PositiveDuration) String() string { return time.Duration(d).String() }

func (d *PositiveDuration) UnmarshalText(b []byte) error {
	x, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	if x <= 0 {
		return fmt.Errorf("duration %s is not greater than zero", x)
	}
	*d = PositiveDuration(x)
	return nil
}

// PositiveDurationVar adds a flag of a duration greater than zero.
func PositiveDurationVar(fs *pflag.FlagSet, name string, def time.Duration, usage string) {
	if def <= 0 {
		panic("config: default of --" + name + " is not positive")
	}
	fs.Var(NewValue(PositiveDuration(def), "duration"), name, usage)
}

// Addrs is a list of IP addresses; in one value they are separated by
// commas.
type Addrs []netip.Addr

func (a *Addrs) UnmarshalText(b []byte) error {
	var out Addrs
	if s := strings.TrimSpace(string(b)); s != "" {
		for _, e := range strings.Split(s, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(e))
			if err != nil {
				return fmt.Errorf("invalid address %q: %w", strings.TrimSpace(e), err)
			}
			out = append(out, ip)
		}
	}
	*a = out
	return nil
}

// GetSlice returns the addresses as text.
func (a *Addrs) GetSlice() []string {
	s := make([]string, len(*a))
	for i, ip := range *a {
		s[i] = ip.String()
	}
	return s
}

// String is the list as viper reads a string slice flag: "[a,b]", or ""
// when empty (so --help shows no default).
func (a *Addrs) String() string {
	if len(*a) == 0 {
		return ""
	}
	return "[" + strings.Join(a.GetSlice(), ",") + "]"
}

// Set adds the addresses of one --flag (a flag given again adds more, as
// pflag's string slices do).
func (a *Addrs) Set(s string) error {
	var more Addrs
	if err := more.UnmarshalText([]byte(s)); err != nil {
		return err
	}
	*a = append(*a, more...)
	return nil
}

// Type is "stringSlice": --help shows "strings", and viper reads the value
// as a list.
func (a *Addrs) Type() string { return "stringSlice" }

func (a *Addrs) Append(s string) error { return a.Set(s) }

func (a *Addrs) Replace(s []string) error {
	var out Addrs
	if err := out.UnmarshalText([]byte(strings.Join(s, ","))); err != nil {
		return err
	}
	*a = out
	return nil
}

// AddrsVar adds a flag of IP addresses, empty by default.
func AddrsVar(fs *pflag.FlagSet, name, usage string) {
	fs.Var(new(Addrs), name, usage)
}

var (
	_ pflag.SliceValue = (*Addrs)(nil)
	_ pflag.Value      = (*Addrs)(nil)
)
