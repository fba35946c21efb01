// Package record is the one home of every record mxsensor writes or reads
// as a JSON line: the attempts and associations of a measurement, the
// rejections found in reject logs, the enrichment results and a scenario's
// ground truth. Each type has an allocation-free AppendJSON that writes the
// line and is read back by the reader of the same type; every string goes
// through AppendString, the project's one JSON escaper.
//
// The SYN event line is the exception: it belongs to package synevent,
// which the kernel path, the capture path and this package all import.
package record
