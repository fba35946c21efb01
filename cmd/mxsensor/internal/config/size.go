package config

import (
	"fmt"
	"math/big"
	"strings"
)

// Sizes (--ring-size, --pcap-rotate-size, --held-memory): a whole or
// decimal number of bytes with an optional unit, case ignored. K, M, G, T
// alone or with "iB" are binary (1024^n); with "B" they are decimal
// (1000^n), as IEC 80000-13 writes them; "B" or nothing is bytes. A
// fraction must come to whole bytes (1.5MiB is 1572864; 1.5B is an error).
// Anything else is rejected rather than read as its leading digits.
var sizeUnits = map[string]uint64{"": 1, "b": 1}

func init() {
	m := uint64(1)
	d := uint64(1)
	for _, p := range []string{"k", "m", "g", "t"} {
		m, d = m<<10, d*1000
		sizeUnits[p], sizeUnits[p+"ib"], sizeUnits[p+"b"] = m, m, d
	}
}

const sizeUnitList = "B, K, KiB, KB, M, MiB, MB, G, GiB, GB, T, TiB or TB"

// maxSizeText bounds the text ParseSize looks at.
const maxSizeText = 64

// ParseSize parses a size (see sizeUnits) into bytes, at most MaxInt64.
func ParseSize(text string) (uint64, error) {
	s := strings.TrimSpace(text)
	bad := func(why string, a ...any) error {
		return fmt.Errorf("invalid size %q: %s", text, fmt.Sprintf(why, a...))
	}
	if s == "" {
		return 0, bad("empty")
	}
	if len(s) > maxSizeText {
		return 0, bad("longer than %d characters", maxSizeText)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	whole, frac, dot := strings.Cut(num, ".")
	switch {
	case strings.ContainsAny(s, " \t"):
		return 0, bad("no spaces allowed")
	case num == "":
		return 0, bad("want a number of bytes and an optional unit, as 4096, 64KiB or 1.5MB")
	case whole == "" || dot && frac == "" || strings.Contains(frac, "."):
		return 0, bad("malformed number %q", num)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, bad("unknown unit %q (want %s)", unit, sizeUnitList)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, bad("malformed number %q", num)
	}
	r.Mul(r, new(big.Rat).SetUint64(mult))
	if !r.IsInt() {
		return 0, bad("not a whole number of bytes")
	}
	if r.Num().BitLen() > 63 {
		return 0, bad("too large")
	}
	return r.Num().Uint64(), nil
}

// Size is a number of bytes, kept with its text as written (for messages
// and for `config dump`).
type Size struct {
	text  string
	bytes uint64
}

// MustSize is the Size of a default written in the code.
func MustSize(s string) Size {
	var z Size
	if err := z.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return z
}

// Bytes is the size in bytes.
func (z Size) Bytes() uint64 { return z.bytes }

func (z Size) String() string { return z.text }

// UnmarshalText parses a size (see ParseSize).
func (z *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	z.text, z.bytes = strings.TrimSpace(string(b)), n
	return nil
}
