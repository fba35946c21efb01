// Package fingerprint is a passive TCP SYN fingerprint engine that reads
// p0f v3 signature databases and reproduces the verdicts of p0f 3.09b for
// the SYNs the sensor records: the same signature (the raw_sig= text p0f
// logs), the same label (os= or app=), the same distance (dist=) and the same
// generic / fuzzy flags.
//
// The engine is an independent Go implementation. p0f's source was read to
// learn its behaviour; no p0f code or signatures are part of this package.
// The stock database is read at run time from [StockPath] when present, and
// [Builtin] supplies a small database of our own signatures for current
// systems and common Internet scanners.
//
// # Using it
//
//	db := fingerprint.Merge(stock, fingerprint.Builtin())
//	res := db.Match(ev)            // no allocations
//	line = res.AppendRawSig(line)  // "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"
//
// A *DB is immutable once built and safe for concurrent use.
//
// # Faithfully mirrored p0f behaviours
//
// Two behaviours of p0f 3.09b look like bugs but are reproduced on purpose,
// because the goal is to agree with p0f on real captures:
//
//   - ack+ (non-zero ACK number on a SYN without the ACK flag) is computed
//     by p0f as "raw 32-bit ACK field AND 1", where the field is loaded in
//     host byte order. On the little-endian machines p0f normally runs on
//     (x86-64, arm64) that tests bit 24 of the ACK number, i.e. the lowest
//     bit of the first ACK byte on the wire, not whether the number is
//     non-zero or odd. An ACK of 1 gives no quirk; 0x01000000 does. We
//     mirror the little-endian build.
//
//   - Non-zero bytes after an EOL option set opt+ only when a non-zero byte
//     is followed by at least one more byte: p0f's scan for padding stops one
//     byte past the first non-zero byte and then checks whether it reached
//     the end of the options, so a single non-zero byte in the very last
//     position goes unnoticed. We mirror that too.
//
// # Deviations
//
// p0f never fingerprints an IPv6 packet whose next header is not TCP: it
// does not walk extension headers, so such SYNs produce no p0f output at
// all. The sensor does walk them; for such an event (IPOptLen > 0 on IPv6)
// this package fingerprints the TCP header as if the extension headers were
// absent (IP option length 0, header total 40 + TCP header), which is what
// p0f would print if it skipped them. Observed.IPv6Ext reports the case.
//
// p0f also drops SYN+FIN and SYN+RST segments and IPv4 fragments; Match
// still fingerprints them (the sensor never records the latter two). p0f
// prints nothing for them, so an oracle comparison should skip them.
//
// See README.md in this directory for the details of matching and of the
// built-in database.
package fingerprint
