package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/fbtftp-go/fbtftp/internal/live"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
)

// sessionsNote names the note (metrics.AppendNote) in which a server that
// handed over sends its live sessions with its metrics, about every
// second: GET /sessions on the new server lists them until it exits. A
// note is a family that every version's Carry.Set ignores, so servers of
// any version still read each other's metrics.
const sessionsNote = "fbtftp_upgrade_live_sessions"

// maxCarriedSessions bounds the sessions a state may carry: a note is at
// most metrics.MaxNote bytes of JSON (about 2,000 sessions), and the
// decoder stops here whatever the payload holds.
const maxCarriedSessions = 4096

// withSessions appends sessions (oldest first) to an Encode'd state, as
// many of the oldest as fit in a note.
func withSessions(state []byte, sessions []live.Session) []byte {
	n := len(sessions)
	for range 8 {
		if n == 0 {
			return state
		}
		js, err := json.Marshal(sessions[:n])
		if err != nil {
			return state
		}
		if len(js) <= metrics.MaxNote {
			if b, err := metrics.AppendNote(state, sessionsNote, js); err == nil {
				return b
			}
			return state
		}
		// Shrink in proportion, a little more: sessions differ in size.
		n = n * metrics.MaxNote / len(js) * 15 / 16
	}
	return state
}

// sessionsOf returns the sessions a state carries: nil when it has none
// (a server built before sent none), at most maxCarriedSessions.
func sessionsOf(state []byte) ([]live.Session, error) {
	js, ok := metrics.Note(state, sessionsNote)
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, errors.New("upgrade state: the sessions are not a JSON list")
	}
	var out []live.Session
	for dec.More() {
		if len(out) == maxCarriedSessions {
			break
		}
		var s live.Session
		if err := dec.Decode(&s); err != nil {
			return nil, errors.New("upgrade state: a session: " + err.Error())
		}
		out = append(out, s)
	}
	return out, nil
}

// carriedLive holds the sessions of the server this one took over from,
// as of its last state, until that server is gone.
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
