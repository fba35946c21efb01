package fleet

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mxsensor/mxsensor/internal/record"
)

// MaxBody bounds a message body a collector reads (a record line is a few
// hundred bytes; a status a few kilobytes).
const MaxBody = 64 << 10

// AppendBody appends a message body: the record's JSON object (line, as
// its AppendJSON writes it, newline or not) with the sensor's id as its
// first key, so the body is the JSONL line plus "sensor".
func AppendBody(b []byte, sensor string, line []byte) ([]byte, error) {
	if len(line) < 2 || line[0] != '{' {
		return b, errors.New("fleet body: the record is not a JSON object")
	}
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	b = append(b, `{"sensor":`...)
	b = record.AppendString(b, sensor)
	if len(line) > 2 { // not {}
		b = append(b, ',')
	}
	return append(b, line[1:]...), nil
}

// Body is what every body holds besides its record.
type Body struct {
	Sensor string `json:"sensor"`
}

// DecodeBody decodes a body into v (a record type embedded beside Body, or
// one with a Sensor field) and returns the sensor it names.
func DecodeBody(data []byte, v any) (string, error) {
	if len(data) > MaxBody {
		return "", fmt.Errorf("fleet body: %d bytes, more than %d", len(data), MaxBody)
	}
	var b Body
	if err := json.Unmarshal(data, &b); err != nil {
		return "", fmt.Errorf("fleet body: %w", err)
	}
	if err := ValidSensorID(b.Sensor); err != nil {
		return "", fmt.Errorf("fleet body: %w", err)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			return "", fmt.Errorf("fleet body: %w", err)
		}
	}
	return b.Sensor, nil
}
