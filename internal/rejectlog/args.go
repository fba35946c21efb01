package rejectlog

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// rotationSuffix matches what logrotate appends to a log's name.
var rotationSuffix = regexp.MustCompile(`(\.\d+(\.gz)?|-\d{8}(\.gz)?|\.gz)$`)

// ExpandArgs turns files and directories into rotation sets: each file
// alone, and each directory as the rotation sets of the logs in it (oldest
// generation first).
func ExpandArgs(args []string) ([][]string, error) {
	var sets [][]string
	err := eachLog(args, func(path string, inDir bool) error {
		if !inDir {
			sets = append(sets, []string{path})
			return nil
		}
		gens, err := Generations(path)
		if err != nil {
			return err
		}
		if len(gens) > 0 {
			sets = append(sets, gens)
		}
		return nil
	})
	return sets, err
}

// LiveFiles returns the live files the arguments name: a file itself, a
// directory its rotation sets' current files (those that exist).
func LiveFiles(args []string) ([]string, error) {
	var out []string
	err := eachLog(args, func(path string, inDir bool) error {
		if fi, err := os.Stat(path); !inDir || (err == nil && fi.Mode().IsRegular()) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// ScanArgs reads every rotation set the arguments name (see [ExpandArgs]),
// each with a parser of its own, calling fn with each rejection, and
// returns the parsers' counts added up.
func ScanArgs(ctx context.Context, args []string, opts Options, damaged func(*DamageError), fn func(Rejection) error) (Counters, error) {
	var total Counters
	sets, err := ExpandArgs(args)
	if err != nil {
		return total, err
	}
	for _, files := range sets {
		p := NewParser(opts)
		err := ScanFiles(ctx, files, p, damaged, fn)
		total.Add(p.Counters())
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// eachLog calls fn with every log the arguments name: a file itself (inDir
// false), and for a directory the base path of each rotation set in it
// (inDir true), sorted.
func eachLog(args []string, fn func(path string, inDir bool) error) error {
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			if err := fn(a, false); err != nil {
				return err
			}
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return err
		}
		bases := map[string]bool{}
		for _, e := range ents {
			if e.Type().IsRegular() {
				bases[rotationSuffix.ReplaceAllString(e.Name(), "")] = true
			}
		}
		names := make([]string, 0, len(bases))
		for b := range bases {
			names = append(names, b)
		}
		sort.Strings(names)
		for _, b := range names {
			if err := fn(filepath.Join(a, b), true); err != nil {
				return err
			}
		}
	}
	return nil
}
