// Package fleet is what sensors and the collector of a network of sensors
// share on NATS JetStream: the subjects and the schema version they carry,
// the message ids that make delivery exactly once, the message body (a
// record's JSON line with the sensor's id), the stream and the key-value
// bucket of the shared spammer list and their limits, the client
// connection's options, and an embedded server for a small fleet and for
// tests.
//
// Subjects are mxsensor.v1.<sensor-id>.<kind>; v1 is the schema version of
// the bodies. Every message carries a Nats-Msg-Id derived from the record
// (sensor, kind, source, port, first seen), so the stream's duplicate
// window drops a retry or a restarted sensor's second send.
package fleet
