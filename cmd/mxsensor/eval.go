package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/evaluate"
)

// evalConfig is eval's section.
type evalConfig struct {
	Truth        string `mapstructure:"truth"`
	Associations string `mapstructure:"associations"`
	JSON         bool   `mapstructure:"json"`
}

func newEvalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval --truth FILE --associations FILE",
		Short: "Score associations against a scenario's ground truth (attempt precision/recall, IPv6-spammer host precision/recall/F1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c evalConfig
			if _, err := loadConfig(cmd, &c); err != nil {
				return err
			}
			truth, assoc := c.Truth, c.Associations
			if truth == "" || assoc == "" {
				return fmt.Errorf("--truth and --associations are required")
			}
			r, err := evaluate.ScoreFiles(truth, assoc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if c.JSON {
				return json.NewEncoder(out).Encode(r)
			}
			return r.WriteText(out)
		},
	}
	cmd.Flags().String("truth", "", "ground truth (truth.jsonl from tools/genscenario)")
	cmd.Flags().String("associations", "", "associations.jsonl from mxsensor analyze or run")
	cmd.Flags().Bool("json", false, "print the scores as JSON")
	return cmd
}
