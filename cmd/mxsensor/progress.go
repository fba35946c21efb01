package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/internal/progress"
)

// newProgress returns the progress bar of a command reading files: nil
// (none) with --quiet, when stderr is not a terminal, or with the json
// log format (stderr then holds JSON only), nor when the command writes its
// results to stdout (toStdout) and that is a terminal too: the bar would
// cut into them. The caller passes
// bar.Writer(stderr) to its logger, so that log lines clear the bar.
func newProgress(cmd *cobra.Command, g globalConfig, quiet, toStdout bool, label string, files []string) *progress.Bar {
	w := cmd.ErrOrStderr()
	if g.LogFormat == "json" || !progress.Enabled(w, quiet, isatty.IsTerminal) ||
		toStdout && progress.Enabled(cmd.OutOrStdout(), false, isatty.IsTerminal) {
		return nil
	}
	return progress.New(progress.Config{W: w, Label: label, Total: progress.FilesSize(files)})
}

// addQuietFlag adds --quiet to a command that shows a progress bar.
func addQuietFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("quiet", false, "no progress bar on stderr (there is none either when stderr is not a terminal)")
}

// stopOnInterrupt ends the bar's line when SIGINT or SIGTERM comes while a
// command without its own handling reads, then lets the signal kill the
// process as it would have without a bar. The returned func stops
// watching.
func stopOnInterrupt(bar *progress.Bar) (release func()) {
	var watch []os.Signal
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		// An ignored signal (a background job's SIGINT) stays ignored.
		if !signal.Ignored(sig) {
			watch = append(watch, sig)
		}
	}
	if bar == nil || len(watch) == 0 {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sigs, watch...)
	go func() {
		select {
		case sig := <-sigs:
			bar.Stop()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
