package record

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// AppendString writes JSON strings: every string reads back as itself
// (invalid UTF-8 as U+FFFD), and the usual ones come out as strconv.Quote
// would write them.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "Linux 3.11 and newer", "order:rst-roundtrip-gap(+3.0)", `a "quoted" \ path`,
		"tab\tnew\nline\rcr", "ctl\x01\x1f\x7f", "é ü 日本", "bad\xff\xfeutf8", "\u2028"} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q -> %s: not JSON: %v", s, b, err)
			continue
		}
		if want := string([]rune(s)); got != want { // each invalid byte is U+FFFD
			t.Errorf("%q -> %s -> %q", s, b, got)
		}
		if !strings.ContainsAny(s, "\x01\x1f\x7f\xff\u2028") {
			if q := strconv.Quote(s); string(b) != q {
				t.Errorf("%q -> %s, strconv.Quote %s", s, b, q)
			}
		}
	}
}
