package rejectlog

import (
	"encoding/json"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	p := testParser()
	for _, tc := range matchCases {
		r, ok, _ := p.Parse(tc.line)
		if !ok {
			t.Fatalf("no match: %s", tc.line)
		}
		var back Rejection
		if err := json.Unmarshal(r.AppendJSON(nil), &back); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r.Raw = ""
		if !back.Time.Equal(r.Time) || back.IP != r.IP || back.Zone != r.Zone || back.MTA != r.MTA ||
			back.Rank != r.Rank || back.Reason != r.Reason {
			t.Errorf("%s: round trip %+v, want %+v", tc.name, back, r)
		}
	}
	var r Rejection
	if err := json.Unmarshal([]byte(`{"ts":"yesterday"}`), &r); err == nil {
		t.Error("bad ts accepted")
	}
	if err := json.Unmarshal([]byte(`{"ip":"192.0.2.256"}`), &r); err == nil {
		t.Error("bad ip accepted")
	}
}
