package rejectlog

import "github.com/mxsensor/mxsensor/internal/record"

// Rejection is one DNSBL rejection found in a log; its JSON line is
// package record's.
type Rejection = record.Rejection

// MTA names as they appear in [Rejection.MTA].
const (
	MTAPostfixSMTPD      = record.MTAPostfixSMTPD
	MTAPostfixPostscreen = record.MTAPostfixPostscreen
	MTAExim              = record.MTAExim
	MTASendmail          = record.MTASendmail
)
