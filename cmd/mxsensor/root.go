package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mxsensor",
		Short:         "Sensor MX: record and reject every SMTP SYN in XDP, measure abusive IPv6 SMTP",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().Var(&choiceValue{"info", []string{"debug", "info", "warn", "error"}}, "log-level", "log level: debug, info, warn, error")
	root.PersistentFlags().Var(&choiceValue{"console", []string{"console", "json"}}, "log-format", "log format: console or json")
	root.PersistentFlags().String("config", "", "YAML configuration file (default "+DefaultConfigFile+" when it exists; MXSENSOR_CONFIG)")
	root.AddCommand(newRunCmd(), newStatsCmd(), newReadCmd(), newDetachCmd(), newAddrCmd(), newFingerprintCmd(), newLookupCmd(), newRejectlogCmd(), newEvalCmd(), newAnalyzeCmd())
	root.AddCommand(newBlocklistCmd(), newDnsblCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newConfigCmd())
	root.AddCommand(newLabCmd())
	return root
}

// newViper fills a command's flags from the configuration file and the
// MXSENSOR_* environment (MXSENSOR_XDP_MODE for --xdp-mode, ...; see
// config.go), then binds them: flags win over the environment, which wins
// over the file.
func newViper(cmd *cobra.Command) (*viper.Viper, error) {
	if err := applyConfig(cmd); err != nil {
		return nil, err
	}
	v := viper.New()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return nil, err
	}
	return v, nil
}

// newLogger builds a command's logger, the one way every command does:
// every diagnostic (progress, summaries, warnings, "report written") goes
// through it to w, the command's stderr, in --log-format (json: one JSON
// object per line); what the command prints as its result goes to stdout.
func newLogger(v *viper.Viper, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(v.GetString("log-level"))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc, err := logEncoder(v.GetString("log-format"))
	if err != nil {
		return nil, err
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}

func logEncoder(format string) (zapcore.Encoder, error) {
	switch format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		return zapcore.NewJSONEncoder(ec), nil
	case "console", "":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339TimeEncoder
		return zapcore.NewConsoleEncoder(ec), nil
	}
	return nil, fmt.Errorf("--log-format: unknown format %q (want console or json)", format)
}

// printError writes the error a command failed with to w: as a JSON log
// record with --log-format json (stderr then holds JSON only), otherwise
// as one line of prose.
func printError(root *cobra.Command, w io.Writer, err error) {
	if f := root.PersistentFlags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
		if enc, eerr := logEncoder("json"); eerr == nil {
			zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zapcore.ErrorLevel)).Error("mxsensor failed", zap.Error(err))
			return
		}
	}
	fmt.Fprintln(w, "mxsensor:", err)
}
