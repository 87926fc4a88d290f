package ipc

import (
	"encoding/binary"
	"fmt"
)

// ConfigFD is the descriptor on which a worker finds its WorkerConfig:
// exec.Cmd.ExtraFiles[1], next to the socketpair on WorkerFD.
const ConfigFD = WorkerFD + 1

// MaxWorkerConfig bounds an encoded WorkerConfig: a map file of at most
// 10000 lines of 16 KiB is far less, a template data file at most 16 MiB.
const MaxWorkerConfig = 48 << 20

// workerConfigMagic starts an encoded WorkerConfig; its last byte is the
// encoding's version.
const workerConfigMagic = "FBTFTPC\x01"

// WorkerConfig is the configuration the master reads, checks and hands to
// every worker it starts, so that a worker never reads a configuration
// file itself: files change only when the operator reloads (SIGHUP), and
// a half-written or broken file never reaches a worker. The master seals
// it in a memfd (SealWorkerConfig) that every worker started until the
// next reload inherits as ConfigFD; the worker reads it (ReadWorkerConfig)
// before its sandbox.
//
// Encoding, after the 8 magic bytes:
//
//	uvarint  length, then the map file's bytes (MapRules)
//	uvarint  length, then the template data file's bytes (TemplateData)
//
// Decoding is strict, as for messages: no trailing bytes, minimal varints,
// lengths within what is left.
type WorkerConfig struct {
	MapRules     []byte // the remap rules (in.tftpd -m), checked by the master; empty: none
	TemplateData []byte // the template data (--template-data), checked by the master; empty: none
}

// AppendWorkerConfig appends c's encoding to b.
func AppendWorkerConfig(b []byte, c *WorkerConfig) ([]byte, error) {
	if len(c.MapRules)+len(c.TemplateData)+len(workerConfigMagic)+2*binary.MaxVarintLen64 > MaxWorkerConfig {
		return b, fmt.Errorf("ipc: worker configuration larger than %d bytes", MaxWorkerConfig)
	}
	b = append(b, workerConfigMagic...)
	for _, f := range [][]byte{c.MapRules, c.TemplateData} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// DecodeWorkerConfig decodes what AppendWorkerConfig encoded. Every error
// wraps ErrMalformed. Empty fields decode as nil.
func DecodeWorkerConfig(b []byte) (*WorkerConfig, error) {
	bad := func(what string) error { return fmt.Errorf("%w: worker configuration: %s", ErrMalformed, what) }
	if len(b) > MaxWorkerConfig {
		return nil, bad("too large")
	}
	if len(b) < len(workerConfigMagic) || string(b[:len(workerConfigMagic)]) != workerConfigMagic {
		return nil, bad("bad magic or version")
	}
	b = b[len(workerConfigMagic):]
	var fields [2][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
			return nil, bad("bad length")
		}
		b = b[k:]
		if n > uint64(len(b)) {
			return nil, bad("truncated")
		}
		if n > 0 {
			fields[i] = b[:n:n]
		}
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return &WorkerConfig{MapRules: fields[0], TemplateData: fields[1]}, nil
}
