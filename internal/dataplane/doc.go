// Package dataplane loads, configures, attaches and pins the XDP SYN recorder
// and RST responder, and reads its ring buffer and counters.
package dataplane
