package report

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/atomicfile"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/record"
)

// Files are the report files analyze and run write beside their results,
// and the format of each.
var Files = map[string]string{"report.txt": "text", "report.json": "json", "report.html": "html"}

// WriteFiles builds the report of the results in dir and writes it there
// as [Files], each replaced atomically so a reader never sees half of one.
// It returns the names written, sorted.
func WriteFiles(dir string, cfg Config) ([]string, error) {
	r, err := Build(dir, cfg)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(Files))
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := atomicfile.Write(path, 0o644, func(f *os.File) error { return Write(f, r, Files[name]) }); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return names, nil
}

// Origins are the origin ASes the live enricher found, by address (the
// first origin of each).
type Origins map[netip.Addr]record.AS

// EnrichedASNs reads the origin ASes of enrichment output files (run
// --enrich-out). Lines that do not parse are skipped, counted and warned
// about per file; a file with nothing but such lines is an error.
func EnrichedASNs(log *zap.Logger, paths ...string) (Origins, error) {
	found := Origins{}
	for _, path := range paths {
		st, err := found.read(path)
		if err != nil {
			return nil, err
		}
		if st.Bad > 0 {
			log.Warn("enrichment lines that do not parse were skipped", zap.String("file", path), zap.Int("bad_lines", st.Bad), zap.Int("too_long", st.TooLong))
		}
	}
	return found, nil
}

func (o Origins) read(path string) (record.Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return record.Stats{}, err
	}
	defer f.Close()
	st, err := record.ScanEnrichments(f, record.Window{}, func(e *record.Enrichment) error {
		if len(e.ASN.Origins) > 0 {
			o[e.IP.Unmap()] = e.ASN.Origins[0]
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if st.Bad > 0 && st.Bad == st.Lines {
		return st, fmt.Errorf("%s: no enrichment line in it (%d lines that do not parse)", path, st.Bad)
	}
	return st, nil
}

// ASNFrom names origin ASes from the table first, where it gives one, and
// then from what the enricher found; nil when there is neither.
func ASNFrom(table *enrich.ASNTable, found Origins) ASNLookup {
	if table == nil && len(found) == 0 {
		return nil
	}
	return func(ip netip.Addr) (uint32, string, bool) {
		if table != nil {
			if e, ok := table.Lookup(ip); ok && e.ASN != 0 {
				return e.ASN, e.Name, true
			}
		}
		a, ok := found[ip]
		return a.Number, a.Name, ok
	}
}
