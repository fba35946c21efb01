// Package enrich looks up what DNS knows about a sender: DNSBL listings,
// reverse names, origin ASN.
//
// An [Enricher] answers three questions about an address:
//
//   - DNSBL listings (RFC 5782): the address, reversed (octets for IPv4, 32
//     nibbles for IPv6), is looked up as an A record under each configured
//     list zone. An answer in 127.0.0.0/8 means listed and its addresses are
//     the list's return codes; the TXT record at the same name gives the
//     reason. NXDOMAIN means not listed. The codes 127.255.255.252 to
//     127.255.255.255 are Spamhaus's "typo / query refused / excessive
//     queries" answers and are reported as errors, never as listings.
//   - Reverse names with forward confirmation (FCrDNS): the PTR names of the
//     address, and the first of them (of at most MaxPTRNames) whose A (IPv4)
//     or AAAA (IPv6) records contain the address.
//   - Origin ASN: from an offline prefix table when one is configured, else
//     from Team Cymru's DNS interface (origin.asn.cymru.com,
//     origin6.asn.cymru.com and asn.cymru.com for the AS names). Multi-origin
//     prefixes keep every origin AS.
//
// Look-ups go through one recursive resolver (Config.Resolver) over UDP,
// retried after a timeout and repeated over TCP when the answer is
// truncated. Every query passes a global token-bucket rate limit; answers,
// negative ones included, are kept in a bounded LRU cache for their TTL
// (clamped to the configured bounds). Counters for all of it are in [Stats].
//
// The synchronous methods ([Enricher.LookupDNSBL], [Enricher.LookupPTR],
// [Enricher.LookupASN], [Enricher.Lookup]) serve command-line use. The
// sensor uses [Enricher.Submit], which never blocks: requests go to a
// bounded queue served by a bounded pool of workers, a request that finds
// the queue full is dropped and counted, and results are delivered to the
// callback set with [Enricher.OnResult] or else on [Enricher.Results].
package enrich
