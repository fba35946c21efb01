package dataplane

import (
	"fmt"

	"go.uber.org/zap/zapcore"
)

// Counter indexes the per-CPU counters (C enum mxs_counter).
type Counter uint32

// NumCounters is the number of counters the program keeps.
const NumCounters = int(mxsensorMxsCounterMXS_CNT_MAX)

// CounterNone marks "no counter" in a Result.
const CounterNone = Counter(^uint32(0))

// The counters, named as in the C header.
const (
	CntPackets         = Counter(mxsensorMxsCounterMXS_CNT_PACKETS)
	CntSynMatched      = Counter(mxsensorMxsCounterMXS_CNT_SYN_MATCHED)
	CntRecords         = Counter(mxsensorMxsCounterMXS_CNT_RECORDS)
	CntRecordsLost     = Counter(mxsensorMxsCounterMXS_CNT_RECORDS_LOST)
	CntRSTSent         = Counter(mxsensorMxsCounterMXS_CNT_RST_SENT)
	CntRateLimited     = Counter(mxsensorMxsCounterMXS_CNT_RATE_LIMITED)
	CntObserved        = Counter(mxsensorMxsCounterMXS_CNT_OBSERVED)
	CntDropped         = Counter(mxsensorMxsCounterMXS_CNT_DROPPED)
	CntPassNotIP       = Counter(mxsensorMxsCounterMXS_CNT_PASS_NOT_IP)
	CntPassVLANDepth   = Counter(mxsensorMxsCounterMXS_CNT_PASS_VLAN_DEPTH)
	CntPassNotTCP      = Counter(mxsensorMxsCounterMXS_CNT_PASS_NOT_TCP)
	CntPassFragment    = Counter(mxsensorMxsCounterMXS_CNT_PASS_FRAGMENT)
	CntPassExtHdr      = Counter(mxsensorMxsCounterMXS_CNT_PASS_EXT_HDR)
	CntPassOtherPort   = Counter(mxsensorMxsCounterMXS_CNT_PASS_OTHER_PORT)
	CntPassNotSYN      = Counter(mxsensorMxsCounterMXS_CNT_PASS_NOT_SYN)
	CntPassNotLocal    = Counter(mxsensorMxsCounterMXS_CNT_PASS_NOT_LOCAL)
	CntPassBadSource   = Counter(mxsensorMxsCounterMXS_CNT_PASS_BAD_SOURCE)
	CntPassMalformed   = Counter(mxsensorMxsCounterMXS_CNT_PASS_MALFORMED)
	CntPassReplyFailed = Counter(mxsensorMxsCounterMXS_CNT_PASS_REPLY_FAILED)
	CntAnomTruncEth    = Counter(mxsensorMxsCounterMXS_CNT_ANOM_TRUNC_ETH)
	CntAnomTruncVLAN   = Counter(mxsensorMxsCounterMXS_CNT_ANOM_TRUNC_VLAN)
	CntAnomTruncIP     = Counter(mxsensorMxsCounterMXS_CNT_ANOM_TRUNC_IP)
	CntAnomBadVersion  = Counter(mxsensorMxsCounterMXS_CNT_ANOM_BAD_VERSION)
	CntAnomBadIHL      = Counter(mxsensorMxsCounterMXS_CNT_ANOM_BAD_IHL)
	CntAnomBadIPLen    = Counter(mxsensorMxsCounterMXS_CNT_ANOM_BAD_IP_LEN)
	CntAnomTruncExt    = Counter(mxsensorMxsCounterMXS_CNT_ANOM_TRUNC_EXT)
	CntAnomExtDepth    = Counter(mxsensorMxsCounterMXS_CNT_ANOM_EXT_DEPTH)
	CntAnomTruncTCP    = Counter(mxsensorMxsCounterMXS_CNT_ANOM_TRUNC_TCP)
	CntAnomBadDoff     = Counter(mxsensorMxsCounterMXS_CNT_ANOM_BAD_DOFF)
)

// counterNames are the stable names used in JSON, stats and metrics.
var counterNames = [NumCounters]string{
	CntPackets:         "packets",
	CntSynMatched:      "syn_matched",
	CntRecords:         "records",
	CntRecordsLost:     "records_lost",
	CntRSTSent:         "rst_sent",
	CntRateLimited:     "rate_limited",
	CntObserved:        "observed",
	CntDropped:         "dropped",
	CntPassNotIP:       "pass_not_ip",
	CntPassVLANDepth:   "pass_vlan_depth",
	CntPassNotTCP:      "pass_not_tcp",
	CntPassFragment:    "pass_fragment",
	CntPassExtHdr:      "pass_ext_hdr",
	CntPassOtherPort:   "pass_other_port",
	CntPassNotSYN:      "pass_not_syn",
	CntPassNotLocal:    "pass_not_local",
	CntPassBadSource:   "pass_bad_source",
	CntPassMalformed:   "pass_malformed",
	CntPassReplyFailed: "pass_reply_failed",
	CntAnomTruncEth:    "anomaly_truncated_ethernet",
	CntAnomTruncVLAN:   "anomaly_truncated_vlan",
	CntAnomTruncIP:     "anomaly_truncated_ip",
	CntAnomBadVersion:  "anomaly_bad_ip_version",
	CntAnomBadIHL:      "anomaly_bad_ihl",
	CntAnomBadIPLen:    "anomaly_bad_ip_length",
	CntAnomTruncExt:    "anomaly_truncated_ext_header",
	CntAnomExtDepth:    "anomaly_ext_header_chain_too_long",
	CntAnomTruncTCP:    "anomaly_truncated_tcp",
	CntAnomBadDoff:     "anomaly_bad_tcp_data_offset",
}

func (c Counter) String() string {
	if int(c) < NumCounters {
		return counterNames[c]
	}
	if c == CounterNone {
		return "none"
	}
	return fmt.Sprintf("counter(%d)", uint32(c))
}

// IsOutcome reports whether c is one of the counters of which every packet
// bumps exactly one.
func (c Counter) IsOutcome() bool {
	return c >= CntRSTSent && c <= CntPassReplyFailed
}

// IsAnomaly reports whether c counts a kind of malformed header.
func (c Counter) IsAnomaly() bool {
	return c >= CntAnomTruncEth && int(c) < NumCounters
}

// Counters holds one value per counter.
type Counters [NumCounters]uint64

// fillPackets sets the packets counter to the sum of the outcomes: every
// packet bumps exactly one outcome, and the program leaves packets at 0 to
// spare every packet a write.
func (c *Counters) fillPackets() {
	var n uint64
	for i := range c {
		if Counter(i).IsOutcome() {
			n += c[i]
		}
	}
	c[CntPackets] = n
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// Map returns the counters by name.
func (c *Counters) Map() map[string]uint64 {
	m := make(map[string]uint64, NumCounters)
	for i, v := range c {
		m[counterNames[i]] = v
	}
	return m
}

// Action is what the program did with a matched SYN (C enum mxs_action).
type Action uint8

// Actions recorded in Record.Action.
const (
	ActionRST         = Action(mxsensorMxsActionMXS_ACTION_RST)
	ActionRateLimited = Action(mxsensorMxsActionMXS_ACTION_RATE_LIMITED)
	ActionObserved    = Action(mxsensorMxsActionMXS_ACTION_OBSERVED)
	ActionDropped     = Action(mxsensorMxsActionMXS_ACTION_DROPPED)
	ActionReplyFailed = Action(mxsensorMxsActionMXS_ACTION_REPLY_FAILED)
)

func (a Action) String() string {
	switch a {
	case ActionRST:
		return "rst"
	case ActionRateLimited:
		return "rate_limited"
	case ActionObserved:
		return "observed"
	case ActionDropped:
		return "dropped"
	case ActionReplyFailed:
		return "reply_failed"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// MarshalLogObject writes the counters that are not zero as log fields,
// by name.
func (c *Counters) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for i, v := range c {
		if v != 0 {
			enc.AddUint64(counterNames[i], v)
		}
	}
	return nil
}
