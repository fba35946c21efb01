package fleet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the message bodies, the second token of
// every subject.
const SchemaVersion = "v1"

// SubjectPrefix is the first tokens of every subject of the fleet.
const SubjectPrefix = "mxsensor." + SchemaVersion

// AllSubjects matches every subject of the fleet (the stream's).
const AllSubjects = SubjectPrefix + ".>"

// Kind is what a message holds.
type Kind string

// The kinds of message.
const (
	KindAttempt     Kind = "attempts"
	KindAssociation Kind = "associations"
	KindRejection   Kind = "rejections"
	KindStatus      Kind = "status"
	KindSYN         Kind = "syns"
)

// Kinds are every kind, in the order a collector ingests a sensor's data.
var Kinds = []Kind{KindRejection, KindAttempt, KindAssociation, KindStatus, KindSYN}

// MaxSensorID bounds a sensor id.
const MaxSensorID = 64

// ValidSensorID checks a sensor id: 1 to MaxSensorID characters of
// [A-Za-z0-9_-] (a subject token, and a file name, with nothing to escape).
func ValidSensorID(id string) error {
	if id == "" {
		return errors.New("sensor id: empty")
	}
	if len(id) > MaxSensorID {
		return fmt.Errorf("sensor id %q: longer than %d characters", id, MaxSensorID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("sensor id %q: only letters, digits, '_' and '-' are allowed", id)
		}
	}
	return nil
}

// SensorIDFromHost turns a host name into a valid sensor id: its first
// label, other characters replaced by '-'.
func SensorIDFromHost(host string) string {
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > MaxSensorID {
		b = b[:MaxSensorID]
	}
	if len(b) == 0 {
		return "sensor"
	}
	return string(b)
}

// Subject is the subject of a sensor's messages of one kind.
func Subject(sensor string, k Kind) string {
	return SubjectPrefix + "." + sensor + "." + string(k)
}

// SensorSubjects matches every subject a sensor may publish on (its
// permission).
func SensorSubjects(sensor string) string {
	return SubjectPrefix + "." + sensor + ".>"
}

// ParseSubject returns the sensor and kind of a fleet subject.
func ParseSubject(subj string) (sensor string, k Kind, err error) {
	rest, ok := strings.CutPrefix(subj, SubjectPrefix+".")
	if !ok {
		return "", "", fmt.Errorf("subject %q: not under %s", subj, SubjectPrefix)
	}
	sensor, kind, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(kind, ".") {
		return "", "", fmt.Errorf("subject %q: want %s.<sensor>.<kind>", subj, SubjectPrefix)
	}
	if err := ValidSensorID(sensor); err != nil {
		return "", "", fmt.Errorf("subject %q: %w", subj, err)
	}
	switch k := Kind(kind); k {
	case KindAttempt, KindAssociation, KindRejection, KindStatus, KindSYN:
		return sensor, k, nil
	}
	return "", "", fmt.Errorf("subject %q: unknown kind %q", subj, kind)
}

// MsgID is the Nats-Msg-Id of a record: the same record of the same sensor
// always has the same id, so the stream drops a second send within its
// duplicate window. key names the record within its kind: the source
// address and port and first-seen time of an attempt or association, the
// address, time and zone of a rejection, the time of a status.
func MsgID(sensor string, k Kind, src netip.Addr, sport uint16, t time.Time, extra string) string {
	b := make([]byte, 0, 96)
	b = append(b, sensor...)
	b = append(b, '.')
	b = append(b, k...)
	b = append(b, '.')
	if src.IsValid() {
		b = src.AppendTo(b)
	}
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(sport), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, t.UnixNano(), 10)
	if extra != "" {
		b = append(b, '.')
		b = append(b, extra...)
	}
	return string(b)
}

// PrefixKey encodes a prefix as a key of the spammer list's bucket (keys
// cannot hold ':' or '/'): the address's 16 bytes in hex, '_', the length.
// IPv4 prefixes are written as IPv4-mapped IPv6.
func PrefixKey(p netip.Prefix) string {
	p = p.Masked()
	a := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	return hex.EncodeToString(a[:]) + "_" + strconv.Itoa(bits)
}

// ParsePrefixKey decodes a PrefixKey.
func ParsePrefixKey(key string) (netip.Prefix, error) {
	h, l, ok := strings.Cut(key, "_")
	if !ok || len(h) != 32 {
		return netip.Prefix{}, fmt.Errorf("prefix key %q: want 32 hex digits, '_', a length", key)
	}
	var a [16]byte
	if _, err := hex.Decode(a[:], []byte(h)); err != nil {
		return netip.Prefix{}, fmt.Errorf("prefix key %q: %w", key, err)
	}
	bits, err := strconv.Atoi(l)
	if err != nil || bits < 0 || bits > 128 {
		return netip.Prefix{}, fmt.Errorf("prefix key %q: bad length", key)
	}
	addr := netip.AddrFrom16(a)
	if addr.Is4In6() && bits >= 96 {
		return netip.PrefixFrom(addr.Unmap(), bits-96).Masked(), nil
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}
