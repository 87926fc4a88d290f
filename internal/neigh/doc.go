// Package neigh looks up a client's link-layer (MAC) address in the kernel's
// neighbour table (ARP for IPv4, NDP for IPv6), read-only, so that a worker
// can tell a handler which machine is asking (Request.MAC).
//
// Lookup asks the kernel with one rtnetlink RTM_GETNEIGH dump of the
// address's family (AF_INET or AF_INET6) on a fresh NETLINK_ROUTE socket.
// Netlink needs no file and no privilege, so it works in a worker that has
// already chrooted and dropped to an unprivileged user. For IPv4, when the
// netlink socket cannot be used, the /proc/net/arp file is read instead
// (only available outside a chroot, or with /proc mounted inside it).
//
// Lookup never changes the table and never sends a packet to the client: an
// address the kernel has not resolved (no traffic yet, entry incomplete or
// failed, or expired) is simply absent. An on-link client normally asks
// for the server's address (ARP request, neighbour solicitation) before its
// first request, which leaves an entry for it; one that still had the
// server's address cached, and to which the server has sent nothing
// lately, has none until the session's first reply. A client behind a
// router has none at all (its packets come from the router's MAC, which is
// not reported for the client's address).
//
// Cost: one socket, one sendto and as many recvmsg as the dump needs until
// the address is found (the rest of the dump is dropped with the socket).
// BenchmarkQuery measures about 60 µs and 3 allocations for a whole dump
// of a small table; a large one adds 80 to 100 bytes for the kernel to
// format and copy per entry before the match. Each lookup is bounded by
// DefaultTimeout and reads at most MaxDumpBytes; past either it gives up
// (Lookup reports the address absent, Query returns an error).
//
// The message layouts (struct nlmsghdr, struct ndmsg, struct rtattr, NDA_*
// and NUD_* values) are those of Linux's uapi headers linux/netlink.h,
// linux/rtnetlink.h and linux/neighbour.h, in host byte order.
package neigh
