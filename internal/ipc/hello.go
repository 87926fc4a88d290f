package ipc

import (
	"encoding/binary"
	"fmt"
)

// Version is the protocol version a worker announces in its Hello. The
// master refuses a worker whose version differs. Bump it on any change to
// any message layout; the Hello layout itself never changes, so a mismatch
// is always detected.
const Version = 7 // 2: Stats carry the content source; 3: and the origin work, and the OriginStats message; 4: no map file in Handoff (WorkerConfig); 5: Stats end with the RTT, Settings FlagFixedRetransmit; 6: the Progress message; 7: Handoff ends with Reuse, the Ready message

// WorkerFD is the descriptor number of the worker's end of the socketpair in
// the exec'd worker: the master passes it as exec.Cmd.ExtraFiles[0].
const WorkerFD = 3

// helloLen is the size of a version 1 Hello: type, version, PID.
const helloLen = 1 + 2 + 4

// Hello is the first message of a worker. It sends it once started and
// sandboxed (chrooted, privileges dropped): it means "ready for a Handoff".
//
//	 1 byte   2 bytes    4 bytes
//	+------+---------+-----------+
//	|  01  | version |    pid    |   big-endian, exactly 7 bytes
//	+------+---------+-----------+
type Hello struct {
	Version uint16 // the worker's protocol version, Version for this build
	PID     int32  // the worker's process ID, positive
}

// AppendHello appends the encoding of h to b. It fails if h.PID is not
// positive.
func AppendHello(b []byte, h Hello) ([]byte, error) {
	if h.PID <= 0 {
		return b, fmt.Errorf("%w: hello: pid: %d is not positive", ErrInvalid, h.PID)
	}
	b = append(b, msgHello)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	return binary.BigEndian.AppendUint32(b, uint32(h.PID)), nil
}

// DecodeHello decodes a Hello. A Hello of another protocol version returns
// an error wrapping ErrVersionMismatch (with the Hello's Version set),
// whatever follows the version field; any other problem wraps ErrMalformed.
func DecodeHello(b []byte) (Hello, error) {
	r := reader{b: b, msg: "hello"}
	r.start(msgHello)
	v := r.bytes("version", 2)
	if r.err != nil {
		return Hello{}, r.err
	}
	h := Hello{Version: binary.BigEndian.Uint16(v)}
	if h.Version != Version {
		return h, fmt.Errorf("%w: worker speaks version %d, master %d", ErrVersionMismatch, h.Version, Version)
	}
	pid := r.bytes("pid", 4)
	if err := r.done(); err != nil {
		return Hello{}, err
	}
	h.PID = int32(binary.BigEndian.Uint32(pid))
	if h.PID <= 0 {
		return Hello{}, fmt.Errorf("%w: hello: pid: %d is not positive", ErrMalformed, h.PID)
	}
	return h, nil
}
