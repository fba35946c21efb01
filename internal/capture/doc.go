// Package capture reads packet captures into Ethernet frames and writes rotating pcap files.
//
// The Reader accepts classic pcap files (either byte order, microsecond or
// nanosecond timestamps) and pcapng files, optionally gzip-compressed, and
// hands out every packet as an Ethernet frame: captures taken on raw IP,
// Linux cooked (SLL, SLL2) or BSD loopback interfaces get a synthetic
// Ethernet header with zero MAC addresses in front of the network layer.
// Every length a file claims is checked against a limit before it sizes a
// buffer (see Reader), so memory use does not depend on the file.
//
// The RotatingWriter writes Ethernet frames to a classic nanosecond pcap
// file and rotates it by size, keeping a fixed number of old generations.
package capture
