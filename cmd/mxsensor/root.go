package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
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
	config.ChoiceVar[logLevels](root.PersistentFlags(), "log-level", "info", "log level: debug, info, warn, error")
	config.ChoiceVar[logFormats](root.PersistentFlags(), "log-format", "console", "log format: console or json")
	root.PersistentFlags().String("config", "", "YAML configuration file (default "+config.DefaultFile+" when it exists; MXSENSOR_CONFIG)")
	root.AddCommand(newRunCmd(), newStatsCmd(), newReadCmd(), newDetachCmd(), newAddrCmd(), newFingerprintCmd(), newLookupCmd(), newRejectlogCmd(), newEvalCmd(), newAnalyzeCmd())
	root.AddCommand(newBlocklistCmd(), newDnsblCmd(), newCollectCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newConfigCmd())
	root.AddCommand(newLabCmd())
	return root
}

// newLogger builds a command's logger, the one way every command does:
// every diagnostic (progress, summaries, warnings, "report written") goes
// through it to w, the command's stderr, in --log-format (json: one JSON
// object per line); what the command prints as its result goes to stdout.
func newLogger(g globalConfig, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(string(g.LogLevel))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc, err := logEncoder(string(g.LogFormat))
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
