package enrich

import "go.uber.org/zap"

// LoadStaticNames loads the ASN table at asnPath and the PTR table at
// ptrPath ("" = none; both none gives the zero StaticNames). Their bad
// lines are warned about through log and skipped.
func LoadStaticNames(asnPath, ptrPath string, log *zap.Logger) (names StaticNames, err error) {
	if asnPath != "" {
		if names.ASNs, err = LoadASNTable(asnPath); err != nil {
			return StaticNames{}, err
		}
		warnBadLines(log, asnPath, &names.ASNs.badLines)
	}
	if ptrPath != "" {
		if names.PTRs, err = LoadPTRTable(ptrPath); err != nil {
			return StaticNames{}, err
		}
		warnBadLines(log, ptrPath, &names.PTRs.badLines)
	}
	return names, nil
}

func warnBadLines(log *zap.Logger, path string, b *badLines) {
	if b.BadLines() > 0 {
		log.Warn("bad lines skipped", zap.String("file", path), zap.Int("bad_lines", b.BadLines()), zap.NamedError("first", b.LineErrors()[0]))
	}
}
