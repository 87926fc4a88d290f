package upgrade

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// EnvHandover marks a process started by Start and lists its descriptors.
const EnvHandover = "FBTFTP_UPGRADE"

// specVersion is the first word of EnvHandover; a child refuses another.
const specVersion = "1"

// ctlFD is the control channel's descriptor in the child; handed-over
// sockets follow it.
const ctlFD = 3

// Limits of the handover description.
const (
	maxFiles   = 256 // descriptors handed over
	maxNameLen = 32
)

// spec is what EnvHandover says.
type spec struct {
	parent int
	ctl    int
	files  map[string][]int // by name, in order
	order  []string         // names in the order given
}

// format writes the spec as EnvHandover's value.
func (s *spec) format() string {
	var b strings.Builder
	b.WriteString(specVersion)
	b.WriteString(" parent=" + strconv.Itoa(s.parent))
	b.WriteString(" ctl=" + strconv.Itoa(s.ctl))
	for _, name := range s.order {
		b.WriteString(" " + name + "=")
		for i, fd := range s.files[name] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(fd))
		}
	}
	return b.String()
}

// parseSpec parses EnvHandover's value strictly: the version, parent and
// ctl first, then NAME=FD[,FD...] with lower-case names; every descriptor
// above standard error, below 65536 and given once.
func parseSpec(v string) (*spec, error) {
	words := strings.Fields(v)
	if len(words) < 3 || words[0] != specVersion {
		return nil, fmt.Errorf("%s: not a version %s handover: %.64q", EnvHandover, specVersion, v)
	}
	s := &spec{files: map[string][]int{}}
	seen := map[int]bool{}
	fdOf := func(w string) (int, error) {
		fd, err := strconv.Atoi(w)
		if err != nil || fd <= 2 || fd > 65535 || seen[fd] || strconv.Itoa(fd) != w {
			return 0, fmt.Errorf("%s: bad descriptor %.16q", EnvHandover, w)
		}
		seen[fd] = true
		return fd, nil
	}
	var err error
	p, ok := strings.CutPrefix(words[1], "parent=")
	if s.parent, err = strconv.Atoi(p); !ok || err != nil || s.parent <= 0 {
		return nil, fmt.Errorf("%s: bad parent %.32q", EnvHandover, words[1])
	}
	c, ok := strings.CutPrefix(words[2], "ctl=")
	if !ok {
		return nil, fmt.Errorf("%s: no ctl", EnvHandover)
	}
	if s.ctl, err = fdOf(c); err != nil {
		return nil, err
	}
	n := 0
	for _, w := range words[3:] {
		name, list, ok := strings.Cut(w, "=")
		if !ok || !validName(name) || name == "ctl" || name == "parent" || s.files[name] != nil || list == "" {
			return nil, fmt.Errorf("%s: bad entry %.64q", EnvHandover, w)
		}
		for f := range strings.SplitSeq(list, ",") {
			if n++; n > maxFiles {
				return nil, fmt.Errorf("%s: more than %d descriptors", EnvHandover, maxFiles)
			}
			fd, err := fdOf(f)
			if err != nil {
				return nil, err
			}
			s.files[name] = append(s.files[name], fd)
		}
		s.order = append(s.order, name)
	}
	return s, nil
}

// validName reports whether name may name descriptors: 1 to maxNameLen
// lower-case letters, digits and '-', starting with a letter.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	return !slices.ContainsFunc([]byte(name), func(c byte) bool {
		return (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-'
	})
}

// Control messages (see the package comment).
const (
	msgReady  = 'R'
	msgCommit = 'C'
	msgState  = 'S'
)

// MaxPayload bounds a control message's payload.
const MaxPayload = 16 << 20

// maxVersion bounds the version a child reports.
const maxVersion = 256

// errBadMessage is a control message outside the protocol.
var errBadMessage = errors.New("upgrade: bad control message")

// appendMsg appends a message to b.
func appendMsg(b []byte, typ byte, payload []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// readMsg reads one message; its payload may be at most limit bytes.
// A clean end of file before a message is io.EOF.
func readMsg(r io.Reader, limit int) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, errBadMessage
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if int64(n) > int64(limit) {
		return 0, nil, fmt.Errorf("%w: type %q, %d bytes", errBadMessage, h[0], n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, errBadMessage
	}
	return h[0], p, nil
}
