package transfer

// Block numbers are 16 bits on the wire; the engine counts blocks with a
// 64-bit absolute index k (block 1 is the first DATA, 0 is the ACK of an
// OACK or the WRQ's ACK 0) so files of any size work. After 65535 the wire
// number wraps to 0 by default, or to 1 when the client negotiated
// tftpd-hpa's "rollover=1".
type seq struct {
	rollover int // 0 or 1
}

// wire returns the 16-bit block number of absolute block k.
func (s seq) wire(k uint64) uint16 {
	if s.rollover == 0 || k <= 65535 {
		return uint16(k)
	}
	return uint16((k-1)%65535 + 1)
}

// abs returns the smallest absolute block k in [lo, hi] whose wire number is
// n, if there is one.
func (s seq) abs(n uint16, lo, hi uint64) (uint64, bool) {
	if lo > hi {
		return 0, false
	}
	var k uint64
	if s.rollover == 0 {
		k = lo + uint64(n-uint16(lo))
	} else {
		if lo == 0 {
			if n == 0 {
				return 0, true
			}
			lo = 1
		}
		if n == 0 {
			return 0, false
		}
		k = lo + (uint64(n-1)+65535-(lo-1)%65535)%65535
	}
	return k, k <= hi
}
