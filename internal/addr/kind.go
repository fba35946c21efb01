package addr

import (
	"fmt"
	"strconv"
)

// Kind is the primary class of an address. See the package documentation for
// the precedence order that picks one Kind when several apply.
type Kind uint8

// The address classes. The zero Kind is KindInvalid.
const (
	KindInvalid        Kind = iota // the zero netip.Addr
	KindIPv4                       // a plain IPv4 address
	KindIPv4Mapped                 // ::ffff:0:0/96
	KindIPv4Compatible             // ::/96 except :: and ::1
	KindNAT64                      // 64:ff9b::/96 and 64:ff9b:1::/48
	KindTeredo                     // 2001::/32
	Kind6to4                       // 2002::/16
	KindISATAP                     // interface identifier [0-3]00:5efe:IPv4
	KindEUI64                      // interface identifier xxxx:xxff:fexx:xxxx
	KindEmbeddedIPv4               // plausible IPv4 in the interface identifier
	KindLowByte                    // interface identifier ::XXXX, non-zero
	KindOther                      // anything else, mostly random identifiers

	numKinds
)

var kindNames = [numKinds]string{
	KindInvalid:        "invalid",
	KindIPv4:           "ipv4",
	KindIPv4Mapped:     "ipv4-mapped",
	KindIPv4Compatible: "ipv4-compatible",
	KindNAT64:          "nat64",
	KindTeredo:         "teredo",
	Kind6to4:           "6to4",
	KindISATAP:         "isatap",
	KindEUI64:          "eui64",
	KindEmbeddedIPv4:   "embedded-ipv4",
	KindLowByte:        "low-byte",
	KindOther:          "other",
}

// Kinds returns all valid Kinds in precedence order (KindInvalid first).
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// String returns the lower-case name of k, such as "6to4" or "embedded-ipv4",
// or "Kind(N)" for a value outside the defined set.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes k as its name.
func (k Kind) MarshalText() ([]byte, error) {
	if k >= numKinds {
		return nil, fmt.Errorf("addr: invalid Kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a name produced by MarshalText.
func (k *Kind) UnmarshalText(text []byte) error {
	v, err := ParseKind(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseKind returns the Kind whose String is s.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return KindInvalid, fmt.Errorf("addr: unknown address kind %q", s)
}
