// Package e2e runs the whole sensor-MX experiment for real, inside network
// namespaces the test creates and removes: a DNS server and a DNSBL, a
// Postfix production MTA that rejects listed senders, the sensor with the
// real XDP program and `mxsensor run`, and senders that deliver mail with
// swaks. TestE2EPostscreen puts postscreen in front of the production MX,
// and TestE2ERelay has real Postfix relays fall back to the sensor. See
// docs/e2e.md; run it with `make e2e` (as root). The TestFleet tests (no
// root needed) run a network of sensors' parts together under faults: a
// sensor's publisher, NATS JetStream servers and the collector.
package e2e
