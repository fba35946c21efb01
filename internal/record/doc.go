// Package record is the one home of every record mxsensor writes or reads
// as a JSON line: the attempts and associations of a measurement, the
// rejections found in reject logs, the enrichment results, the lines of
// mxsensor fingerprint --json and a scenario's ground truth. Each type has
// an allocation-free AppendJSON that writes the line and a reader (a Scan
// function, bounded by MaxLine, that skips and counts what does not
// parse); every string goes through AppendString, the project's one JSON
// escaper.
//
// The SYN event line is the exception: it belongs to package synevent,
// which both the kernel path and the capture path produce, and it holds
// no free text to escape.
package record
