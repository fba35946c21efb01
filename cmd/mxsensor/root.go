package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mxsensor/mxsensor/internal/config"
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
	root.AddCommand(newBlocklistCmd(), newDnsblCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newConfigCmd())
	root.AddCommand(newLabCmd())
	return root
}

// newLogger is the diagnostics logger the global settings ask for.
func newLogger(g globalConfig) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(string(g.LogLevel))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var enc zapcore.Encoder
	switch g.LogFormat {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console", "":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339TimeEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log-format: unknown format %q (want console or json)", g.LogFormat)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)), nil
}
