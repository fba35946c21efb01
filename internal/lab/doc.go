// Package lab builds a throw-away demonstration of the sensor: network
// namespaces joined by a bridge, the real agent (`mxsensor run`) on the
// sensor's veth, real Linux clients and raw-socket Windows- and macOS-like
// clients connecting to it over IPv4 and IPv6, and a reject log that lists
// some of the clients. It runs the live measurement for a bounded time,
// checks the associations against what it made the clients do, and removes
// everything it created.
//
// Linux only; needs root.
package lab
