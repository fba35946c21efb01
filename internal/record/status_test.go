package record

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestStatusJSON(t *testing.T) {
	s := Status{Time: time.Unix(1700000000, 5).UTC(), Version: "1.2", ConfigDigest: "ab\"c",
		Counters: map[string]uint64{"sensor_events": 7, "pipeline_attempts": 3, "z": 0}}
	line := s.AppendJSON(nil)
	want := `{"ts":"2023-11-14T22:13:20.000000005Z","version":"1.2","config_digest":"ab\"c","counters":{"pipeline_attempts":3,"sensor_events":7,"z":0}}` + "\n"
	if string(line) != want {
		t.Errorf("got  %s want %s", line, want)
	}
	var back Status
	if err := json.Unmarshal(line, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("decoded %+v %v", back, err)
	}
	empty := (&Status{}).AppendJSON(nil)
	if !json.Valid(empty) {
		t.Errorf("%s", empty)
	}
}
