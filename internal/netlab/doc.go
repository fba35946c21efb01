// Package netlab builds throw-away network namespaces joined by veth pairs,
// for integration tests and the lab, and removes everything it made.
//
// A Lab owns a set of named network namespaces (Hosts). Each one is
// bind-mounted at /run/netns/<lab id>-<host name>, so iproute2 sees it too
// (`ip netns exec`, `ip -n`). Veth pairs are created directly inside the
// namespaces (the peer end is moved by the kernel as part of creation), so
// the root namespace never carries a lab interface, not even briefly.
//
// Everything is done through netlink and setns on dedicated, locked OS
// threads; the calling goroutine's thread never changes namespace. Only
// Host.Exec runs an external program (`ip netns exec`, or nsenter).
//
// The package needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). Tests use
// RequireRoot to skip, or fail when CI=true, on machines without them.
//
// Linux only.
package netlab
