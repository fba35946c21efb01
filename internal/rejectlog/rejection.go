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
	MTARspamd            = record.MTARspamd
	MTAPattern           = record.MTAPattern
)

// Kinds of [Rejection.Zone] that is not a DNS zone.
const (
	ZoneKindName   = record.ZoneKindName
	ZoneKindURL    = record.ZoneKindURL
	ZoneKindSymbol = record.ZoneKindSymbol
)
