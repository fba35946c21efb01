package main

import (
	"fmt"
	"os"

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

func newLogger(v *viper.Viper) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(v.GetString("log-level"))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var enc zapcore.Encoder
	switch v.GetString("log-format") {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console", "":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339TimeEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log-format: unknown format %q (want console or json)", v.GetString("log-format"))
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)), nil
}
