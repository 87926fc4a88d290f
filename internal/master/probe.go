package master

import (
	"net/netip"
	"sync"
	"time"
)

// probeTracker remembers UEFI size probes (a tsize OACK answered by ERROR
// 8) so the session that follows, the real download of the same file by
// the same client, can name the probe in its log line. Bounded in entries
// and time.
type probeTracker struct {
	mu      sync.Mutex
	entries map[probeKey]probeEntry
}

type probeKey struct {
	client netip.Addr // the port changes between probe and download
	file   string
}

type probeEntry struct {
	sessionID string
	at        time.Time
}

const (
	probeTTL        = 5 * time.Minute
	maxProbeEntries = 16384
)

// probed records a probe session.
func (p *probeTracker) probed(client netip.Addr, file, sessionID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries == nil {
		p.entries = map[probeKey]probeEntry{}
	}
	if len(p.entries) >= maxProbeEntries {
		for k, e := range p.entries {
			if now.Sub(e.at) > probeTTL {
				delete(p.entries, k)
			}
		}
		if len(p.entries) >= maxProbeEntries {
			return // a probe flood: forget this one rather than grow
		}
	}
	p.entries[probeKey{client, file}] = probeEntry{sessionID, now}
}

// follows returns the probe a new session of client for file follows, if
// one was recorded recently, and forgets it.
func (p *probeTracker) follows(client netip.Addr, file string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := probeKey{client, file}
	e, ok := p.entries[k]
	if !ok {
		return "", false
	}
	delete(p.entries, k)
	if now.Sub(e.at) > probeTTL {
		return "", false
	}
	return e.sessionID, true
}
