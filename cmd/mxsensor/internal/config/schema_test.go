package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// validated is a section whose Validate refuses a count over 9.
type validated struct {
	Count int `mapstructure:"count"`
}

func (v *validated) Validate() error {
	if v.Count > 9 {
		return errors.New("count over 9")
	}
	return nil
}

type globalSettings struct {
	Level Choice[levels] `mapstructure:"level"`
}

func testSchema() *Schema {
	g := pflag.NewFlagSet("root", pflag.ContinueOnError)
	ChoiceVar[levels](g, "level", "low", "how loud")
	g.String("config", "", "the file")
	v := pflag.NewFlagSet("v", pflag.ContinueOnError)
	v.Int("count", 1, "how many\nat most 9")
	v.Bool("help", false, "help")
	return NewSchema(Section{Name: "global", Flags: Settings("global", g), New: func() any { return new(globalSettings) }},
		[]Section{
			{Name: "t", Help: "The test command", Flags: testFlags(), New: func() any { return new(testConfig) }, Listed: true},
			{Name: "v", Help: "The validated command", Flags: Settings("v", v), New: func() any { return new(validated) }, Listed: true},
			{Name: "config", Flags: pflag.NewFlagSet("config", pflag.ContinueOnError)},
			{Name: "secret", Help: "A hidden command", Flags: Settings("v", v), New: func() any { return new(validated) }},
		})
}

func TestSettingsDropConfigAndHelp(t *testing.T) {
	s := testSchema()
	if s.Global().Flags.Lookup("config") != nil || s.command("v").Flags.Lookup("help") != nil || s.command("v").Flags.Lookup("count") == nil {
		t.Error("--config or --help is a setting, or --count is not")
	}
}

// TestSchemaCheck: every section is checked, each problem named with the
// file and the section; a command that reads no section is not one.
func TestSchemaCheck(t *testing.T) {
	s := testSchema()
	f, err := Read(writeFile(t, "global:\n  level: high\nt:\n  count: 3\nv:\n  count: 2\nsecret:\n  count: 1\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(f); err != nil {
		t.Errorf("good file: %v", err)
	}
	f, err = Read(writeFile(t, "global:\n  level: loud\nv:\n  count: 10\nconfig:\n  x: 1\nnope:\n  x: 1\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check(f)
	for _, want := range []string{
		f.Path + ": config: no such command (sections: global, t, v)",
		f.Path + ": global.level: unknown value \"loud\"",
		f.Path + ": nope: no such command (sections: global, t, v)",
		f.Path + ": v: count over 9",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
	// A command that reads no section still names one (what a running
	// command checks of the other sections).
	err = s.CheckSections(f)
	if err == nil || strings.Contains(err.Error(), "config:") || !strings.Contains(err.Error(), "nope: no such command") {
		t.Errorf("CheckSections: %v", err)
	}
	if _, err := s.Command("config"); err == nil || err.Error() != `no command "config" (have t, v)` {
		t.Errorf("Command(config): %v", err)
	}
}

func TestWriteValues(t *testing.T) {
	s := testSchema()
	empty, _ := Read("", false)
	sec, err := s.Command("t")
	if err != nil {
		t.Fatal(err)
	}
	fs := sec.Flags
	if err := fs.Parse([]string{"--list", "a,b", "--addrs", "192.0.2.1", "--rate", "1e-7"}); err != nil {
		t.Fatal(err)
	}
	c := sec.New()
	if err := empty.Load("t", fs, c); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteValues(&b, sec, c); err != nil {
		t.Fatal(err)
	}
	want := `t:
  addrs: ["192.0.2.1"]
  count: 1
  flush: "1s"
  level: "low"
  list: ["a", "b"]
  listen: "127.0.0.1:1"
  name: "def"
  on: false
  ports: ["25"]
  rate: 1e-07
  size: "1KiB"
  wait: "1s"
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteExample: listed commands with settings, sorted, each setting
// commented out at its default under its help; hidden settings and
// commands left out.
func TestWriteExample(t *testing.T) {
	var b strings.Builder
	if err := testSchema().WriteExample(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"global:\n  # how loud\n  #level: \"low\"\n\n# The test command\nt:\n",
		"  #list: []\n", "  #ports: [\"25\"]\n", "  #on: false\n", "  #rate: 0.5\n", "  #size: \"1KiB\"\n",
		"\n# The validated command\nv:\n  # how many\n  # at most 9\n  #count: 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") || strings.Contains(got, "secret") || strings.Contains(got, "#config") || !strings.HasPrefix(got, "# mxsensor configuration") {
		t.Errorf("example:\n%s", got)
	}
}
