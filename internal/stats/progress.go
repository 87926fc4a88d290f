package stats

import "time"

// Progress is what a worker reports while its session runs (ipc's
// Progress message): the figures of SessionStats so far, and what a live
// view of the session shows. The master bounds every field before it uses
// one (internal/master, boundProgress); the counters only ever grow.
type Progress struct {
	// SessionID names the session handed over.
	SessionID string
	// Bytes is the payload acknowledged so far (a download: by the client;
	// an upload: written), as SessionStats.Bytes.
	Bytes           uint64
	PacketsSent     uint64
	PacketsReceived uint64
	Retransmits     uint64
	// Size is the content's size when known (a download: the file's,
	// after netascii conversion; an upload: the tsize the client
	// announced), else -1. It is for display only.
	Size int64
	// Blksize and Windowsize are in force (0 before the transfer starts).
	Blksize, Windowsize int
	// Source is where the content comes from (SourceNone for uploads).
	Source Source
	// RTT is the session's smoothed round-trip time so far (as
	// SessionStats.RTT), 0 before the first measurement.
	RTT time.Duration
}

// ProgressDelta is the growth of a session's counters between two
// reports, what metrics add.
type ProgressDelta struct {
	Bytes, PacketsSent, PacketsReceived, Retransmits uint64
}

// IsZero reports whether nothing grew.
func (d ProgressDelta) IsZero() bool { return d == ProgressDelta{} }
