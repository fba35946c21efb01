// Package dataplane loads, configures, attaches and pins the XDP SYN recorder
// and RST responder, and reads its ring buffer and counters (also those of
// a running sensor, through its pins: [ReadStats]).
package dataplane
