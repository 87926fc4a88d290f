package neigh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// dumpSeq is the sequence number of the request; the answer is matched on
// it. Each lookup has its own socket, so one number serves them all.
const dumpSeq = 1

// Query returns the link-layer address the kernel's neighbour table holds
// for ip, or nil and no error when there is no usable entry (none,
// incomplete, failed, a NOARP or all-zero address, or one on another
// interface than the zone of a link-local ip).
//
// It reads the table with an RTM_GETNEIGH dump, and for IPv4 falls back
// to /proc/net/arp when netlink fails. The error is the netlink one when
// both fail (the file is usually missing in a chroot). The lookup spends at
// most timeout and reads at most MaxDumpBytes; reaching either is an
// error wrapping os.ErrDeadlineExceeded or reporting the size.
func Query(ip netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	t := targetFor(ip)
	if !t.ip.IsValid() {
		return nil, nil
	}
	family := uint8(afInet6)
	if t.ip.Is4() {
		family = afInet
	}
	mac, err := dump(family, t, time.Now().Add(timeout))
	if err != nil && t.ip.Is4() {
		if m, ok := readARP(t.ip); ok {
			return m, nil
		}
	}
	return mac, err
}

// readARP looks ip up in ARPFile.
func readARP(ip netip.Addr) (net.HardwareAddr, bool) {
	f, err := os.Open(ARPFile)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	return parseARP(f, ip, MaxDumpBytes)
}

// dump asks the kernel for the family's neighbour table and reads it until
// t is found, the dump ends, the deadline passes or MaxDumpBytes were read.
func dump(family uint8, t target, deadline time.Time) (net.HardwareAddr, error) {
	// The socket is ours alone and closed on return, which also drops
	// whatever part of the dump was not read.
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	req := appendRequest(make([]byte, 0, nlmsgHdrLen+ndmsgLen), family, dumpSeq)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("neigh: netlink send: %w", err)
	}
	// The kernel never makes a dump datagram larger than 32 KiB when the
	// reader's buffer is that large (netlink_recvmsg caps max_recvmsg_len).
	buf := make([]byte, 32<<10)
	for total := 0; total < MaxDumpBytes; {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("neigh: netlink dump: %w", os.ErrDeadlineExceeded)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if tv.Sec == 0 && tv.Usec == 0 {
			tv.Usec = 1 // zero would mean "no timeout"
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("neigh: netlink timeout: %w", err)
		}
		m, _, flags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil, fmt.Errorf("neigh: netlink dump: %w", os.ErrDeadlineExceeded)
		case err != nil:
			return nil, fmt.Errorf("neigh: netlink receive: %w", err)
		case flags&unix.MSG_TRUNC != 0:
			return nil, errors.New("neigh: netlink datagram truncated")
		}
		total += m
		// Only the kernel (port id 0) answers a dump.
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue
		}
		mac, done, err := parseDump(buf[:m], dumpSeq, t)
		if err != nil || mac != nil || done {
			return mac, err
		}
	}
	return nil, fmt.Errorf("neigh: neighbour table larger than %d bytes", MaxDumpBytes)
}
