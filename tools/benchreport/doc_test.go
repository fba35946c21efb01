package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceRegion(t *testing.T) {
	before := "# Benchmarks\n\nHand-written intro, with a trailing space \nand no newline at the end of the heading:\n" +
		"## Latest run\n\n" + beginMarker
	after := endMarker + "\n\n## The XDP program\n\nMore prose.\r\nUnusual line ending kept.\n"
	doc := before + "\nold figures\n| a | b |\n" + after
	out, err := replaceRegion([]byte(doc), "new figures\n| c | d |")
	if err != nil {
		t.Fatal(err)
	}
	want := before + "\nnew figures\n| c | d |\n" + after
	if string(out) != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
	// A second run over its own output gives the same file.
	again, err := replaceRegion(out, "new figures\n| c | d |\n")
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != want {
		t.Errorf("second run changed the file:\n%q", again)
	}
}

func TestReplaceRegionMarkers(t *testing.T) {
	for _, tc := range []struct{ name, doc, err string }{
		{"no markers", "# Benchmarks\n", "marker " + beginMarker + " not found"},
		{"no end", "a\n" + beginMarker + "\nb\n", "marker " + endMarker + " not found"},
		{"no begin", "a\n" + endMarker + "\n", "marker " + beginMarker + " not found"},
		{"reversed", endMarker + "\n" + beginMarker + "\n", "comes before"},
		{"twice", beginMarker + "\n" + endMarker + "\n" + beginMarker + "\n", "found 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := replaceRegion([]byte(tc.doc), "x\n")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestWriteRegion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "benchmarks.md")
	doc := "intro\n" + beginMarker + "\nold\n" + endMarker + "\nrest\n"
	if err := os.WriteFile(path, []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := writeRegion(path, "new\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + beginMarker + "\nnew\n" + endMarker + "\nrest\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640", fi.Mode(), err)
	}

	// A file without markers is left as it was, and no temporary file stays.
	bare := filepath.Join(dir, "bare.md")
	if err := os.WriteFile(bare, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeRegion(bare, "new\n"); err == nil {
		t.Error("no error for a file without markers")
	}
	if got, _ := os.ReadFile(bare); string(got) != "no markers\n" {
		t.Errorf("file without markers changed: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the directory, want 2 (a temporary file left?)", len(entries))
	}
}
