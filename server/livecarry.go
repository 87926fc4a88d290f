package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

// stateMagic starts a state payload (upgrade.Child.Send) that carries the
// sending server's live sessions after its metrics: the magic, the metrics'
// length (4 bytes, big-endian), the metrics, then the sessions as JSON. A
// payload without it, from a server built before, is metrics alone.
const stateMagic = "fbtftp-state 2\n"

// encodeState makes a state payload; sessions are left out when the whole
// would exceed limit.
func encodeState(metrics []byte, sessions []live.Session, limit int) []byte {
	js, err := json.Marshal(sessions)
	if err != nil || len(stateMagic)+4+len(metrics)+len(js) > limit {
		js = []byte("[]")
	}
	b := make([]byte, 0, len(stateMagic)+4+len(metrics)+len(js))
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(metrics)))
	b = append(b, metrics...)
	return append(b, js...)
}

// decodeState splits a state payload into the metrics and the sessions.
func decodeState(p []byte) (metrics []byte, sessions []live.Session, err error) {
	rest, ok := bytes.CutPrefix(p, []byte(stateMagic))
	if !ok {
		return p, nil, nil
	}
	if len(rest) < 4 {
		return nil, nil, errors.New("state: short")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, nil, errors.New("state: metrics longer than the payload")
	}
	metrics, rest = rest[:n], rest[n:]
	if err := json.Unmarshal(rest, &sessions); err != nil {
		return metrics, nil, errors.New("state: sessions: " + err.Error())
	}
	return metrics, sessions, nil
}

// carriedLive holds the sessions of the server this one took over from,
// as of its last state (about every second), until that server is gone:
// GET /sessions lists both servers' sessions during an upgrade.
type carriedLive struct {
	mu       sync.Mutex
	sessions []live.Session
}

// set replaces the carried sessions; nil forgets them.
func (c *carriedLive) set(s []live.Session) {
	c.mu.Lock()
	c.sessions = s
	c.mu.Unlock()
}

// merge adds the carried sessions to snap, their age as of snap's time,
// all oldest first.
func (c *carriedLive) merge(snap live.Snapshot) live.Snapshot {
	c.mu.Lock()
	carried := c.sessions
	c.mu.Unlock()
	if len(carried) == 0 {
		return snap
	}
	all := make([]live.Session, 0, len(snap.Sessions)+len(carried))
	all = append(all, snap.Sessions...)
	for _, s := range carried {
		if !s.Started.IsZero() {
			s.Age = max(snap.Time.Sub(s.Started).Seconds(), 0)
		}
		all = append(all, s)
	}
	slices.SortStableFunc(all, func(a, b live.Session) int { return a.Started.Compare(b.Started) })
	snap.Sessions = all
	return snap
}

// liveView is the metrics listener's GET /sessions: the master's view
// plus what a server that handed over to this one still runs.
func liveView(m interface{ Live() live.Snapshot }, c *carriedLive) func() live.Snapshot {
	return func() live.Snapshot { return c.merge(m.Live()) }
}
