package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/evaluate"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// evalConfig is eval's section.
type evalConfig struct {
	Truth         string   `mapstructure:"truth"`
	Associations  string   `mapstructure:"associations"`
	List          string   `mapstructure:"list"`
	RejectLogs    []string `mapstructure:"reject-log"`
	RejectPattern []string `mapstructure:"reject-pattern"`
	JSON          bool     `mapstructure:"json"`
}

// Validate compiles the patterns.
func (c *evalConfig) Validate() error {
	_, err := rejectPatterns(c.RejectPattern)
	return err
}

func newEvalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval --truth FILE (--associations FILE | --list FILE)",
		Short: "Score associations (attempt precision/recall, IPv6-spammer host precision/recall/F1, the score's reliability table and Brier score) or an IPv6 blocklist against a scenario's ground truth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c evalConfig
			if _, err := loadConfig(cmd, &c); err != nil {
				return err
			}
			truth, assoc := c.Truth, c.Associations
			if truth == "" || (assoc == "") == (c.List == "") {
				return fmt.Errorf("--truth, and --associations or --list (not both), are required")
			}
			out := cmd.OutOrStdout()
			if c.List != "" {
				pats, err := rejectPatterns(c.RejectPattern)
				if err != nil {
					return err
				}
				r, err := evaluate.ScoreListFiles(truth, c.List, c.RejectLogs, rejectlog.Options{Patterns: pats})
				if err != nil {
					return err
				}
				if c.JSON {
					return json.NewEncoder(out).Encode(r)
				}
				return r.WriteText(out)
			}
			r, err := evaluate.ScoreFiles(truth, assoc)
			if err != nil {
				return err
			}
			if c.JSON {
				return json.NewEncoder(out).Encode(r)
			}
			return r.WriteText(out)
		},
	}
	cmd.Flags().String("truth", "", "ground truth (truth.jsonl from tools/genscenario)")
	cmd.Flags().String("associations", "", "associations.jsonl from mxsensor analyze or run")
	cmd.Flags().String("list", "", "or: an IPv6 blocklist (mxsensor blocklist --format plain or json): precision, recall and F1 of its prefixes against the spammer hosts' IPv6 sources")
	cmd.Flags().StringSlice("reject-log", nil, "with --list: count as positives only the spammer hosts whose IPv4 one of these reject logs lists (what the sensors of those domains can know)")
	addRejectPatternFlag(cmd)
	cmd.Flags().Bool("json", false, "print the scores as JSON")
	return cmd
}
