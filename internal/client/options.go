package client

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Defaults used when an Options field is zero.
const (
	DefaultTimeout = time.Second // retransmit timeout
	DefaultRetries = 5           // retransmits in a row before giving up
)

// Rollover selects the tftpd-hpa "rollover" option: what block number
// follows 65535. The zero value sends no option; the client then expects 0,
// the common default.
type Rollover int8

// The rollover choices.
const (
	RolloverNone Rollover = iota // send no rollover option
	RolloverZero                 // send rollover=0: 65535 is followed by 0
	RolloverOne                  // send rollover=1: 65535 is followed by 1
)

// Options configure one transfer. The zero value is a plain RFC 1350 octet
// transfer with no options, a 1 s retransmit timeout and 5 retries.
type Options struct {
	// Mode is octet (the zero value) or netascii. Netascii is decoded on
	// Get (proto.NewNetasciiDecoder) and encoded on Put.
	Mode proto.Mode
	// Blksize, when > 0, is sent as the blksize option (RFC 2348).
	Blksize int
	// Windowsize, when > 0, is sent as the windowsize option (RFC 7440).
	Windowsize int
	// Tsize sends the tsize option (RFC 2349): 0 on an RRQ, the size on a
	// WRQ (when it is known).
	Tsize bool
	// Timeout is the retransmit timeout; 0 means DefaultTimeout.
	Timeout time.Duration
	// Retries is how many retransmits in a row are made before giving up;
	// 0 means DefaultRetries, a negative value means none.
	Retries int
	// Rollover sends the rollover option.
	Rollover Rollover
	// RawOptions are appended to the request verbatim after the options
	// above, for tests of odd or unknown options. An OACK may acknowledge
	// them; a blksize, windowsize or rollover among them takes effect.
	RawOptions []proto.Option
	// LocalAddr is the address to bind. The zero value binds port 0 on the
	// loopback address of the server's family when the server is on
	// loopback, else on the unspecified address of that family.
	LocalAddr netip.AddrPort
	// Dally, when > 0, makes Get wait this long after its final ACK and
	// re-ACK a retransmitted last block (RFC 1350 §6), for servers whose
	// final ACK may be lost. Get returns only after it.
	Dally time.Duration
}

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) retries() int {
	switch {
	case o.Retries < 0:
		return 0
	case o.Retries == 0:
		return DefaultRetries
	}
	return o.Retries
}

// requestOptions returns the option list of a request. size is the tsize
// to send on a WRQ (ignored when < 0); an RRQ sends 0.
func (o *Options) requestOptions(op proto.Opcode, size int64) []proto.Option {
	var opts []proto.Option
	if o.Blksize > 0 {
		opts = append(opts, proto.Option{Name: proto.OptBlksize, Value: strconv.Itoa(o.Blksize)})
	}
	if o.Tsize {
		switch {
		case op == proto.OpRRQ:
			opts = append(opts, proto.Option{Name: proto.OptTsize, Value: "0"})
		case size >= 0:
			opts = append(opts, proto.Option{Name: proto.OptTsize, Value: strconv.FormatInt(size, 10)})
		}
	}
	if o.Windowsize > 0 {
		opts = append(opts, proto.Option{Name: proto.OptWindowsize, Value: strconv.Itoa(o.Windowsize)})
	}
	switch o.Rollover {
	case RolloverZero:
		opts = append(opts, proto.Option{Name: proto.OptRollover, Value: "0"})
	case RolloverOne:
		opts = append(opts, proto.Option{Name: proto.OptRollover, Value: "1"})
	}
	return append(opts, o.RawOptions...)
}

// params are the transfer parameters in force after the server's answer.
type params struct {
	blksize    int
	windowsize int
	rollover   uint16 // block number after 65535
	tsize      int64  // -1 unless acknowledged
}

func defaultParams() params {
	return params{blksize: proto.DefaultBlksize, windowsize: 1, tsize: -1}
}

func lookup(opts []proto.Option, name string) (string, bool) {
	for _, o := range opts {
		if strings.EqualFold(o.Name, name) {
			return o.Value, true
		}
	}
	return "", false
}

// applyOACK checks an OACK against the request (RFC 2347: the server may
// only acknowledge options the client sent, blksize and windowsize no larger
// than requested) and returns the resulting parameters. A non-empty reason
// means the OACK must be refused with ERROR 8.
func applyOACK(requested, acked []proto.Option) (params, string) {
	p := defaultParams()
	for _, a := range acked {
		reqVal, ok := lookup(requested, a.Name)
		if !ok {
			return p, "unrequested option " + a.Name
		}
		name := strings.ToLower(a.Name)
		if !proto.IsKnownOption(name) {
			continue // a raw option the server echoes; nothing to apply
		}
		v, err := strconv.ParseUint(a.Value, 10, 64)
		if err != nil {
			return p, "bad value for " + a.Name
		}
		want, _ := strconv.ParseUint(reqVal, 10, 64)
		switch name {
		case proto.OptBlksize, proto.OptBlksize2:
			if v < proto.MinBlksize || v > proto.MaxBlksize || v > want {
				return p, "bad blksize " + a.Value
			}
			p.blksize = int(v)
		case proto.OptWindowsize:
			if v < proto.MinWindowsize || v > proto.MaxWindowsize || v > want {
				return p, "bad windowsize " + a.Value
			}
			p.windowsize = int(v)
		case proto.OptRollover:
			if v > 1 {
				return p, "bad rollover " + a.Value
			}
			p.rollover = uint16(v)
		case proto.OptTsize:
			if v > 1<<62 {
				return p, "bad tsize " + a.Value
			}
			p.tsize = int64(v)
		}
	}
	return p, ""
}
