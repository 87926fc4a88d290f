package client

// Block numbering. A transfer's blocks are counted from 1 with a uint64
// index; the wire carries a 16-bit number that wraps after 65535 to 0 (the
// default) or to 1 (tftpd-hpa's rollover=1). Index 0 stands for the OACK
// (acknowledged with ACK 0).

// wire returns the 16-bit block number of index i.
func wire(i uint64, rollover uint16) uint16 {
	if rollover == 0 || i == 0 {
		return uint16(i)
	}
	return uint16((i-1)%65535 + 1)
}

// index returns the index in [lo, hi] whose wire number is n, if any. The
// range must be shorter than the wrap period (65535).
func index(n uint16, lo, hi uint64, rollover uint16) (uint64, bool) {
	if lo > hi {
		return 0, false
	}
	if rollover == 0 {
		i := lo + uint64(uint16(n-uint16(lo)))
		return i, i <= hi
	}
	if n == 0 {
		return 0, lo == 0
	}
	start := max(lo, 1)
	pos := (start - 1) % 65535 // position of start in the 1..65535 cycle
	i := start + (uint64(n-1)+65535-pos)%65535
	return i, i <= hi
}
