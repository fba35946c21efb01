package enrich

import "go.uber.org/zap"

// LoadStaticNames loads the ASN table at asnPath and the PTR table at
// ptrPath ("" = none; both none gives the zero StaticNames). Their bad
// lines are warned about through log and skipped.
func LoadStaticNames(asnPath, ptrPath string, log *zap.Logger) (StaticNames, error) {
	var names StaticNames
	warn := func(path string, t *badLines) {
		if t.BadLines() > 0 {
			log.Warn("bad lines skipped", zap.String("file", path), zap.Int("bad_lines", t.BadLines()), zap.NamedError("first", t.LineErrors()[0]))
		}
	}
	if asnPath != "" {
		t, err := LoadASNTable(asnPath)
		if err != nil {
			return names, err
		}
		warn(asnPath, &t.badLines)
		names.ASNs = t
	}
	if ptrPath != "" {
		t, err := LoadPTRTable(ptrPath)
		if err != nil {
			return names, err
		}
		warn(ptrPath, &t.badLines)
		names.PTRs = t
	}
	return names, nil
}
