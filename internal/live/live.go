// Package live is the JSON of the master's live view, GET /sessions on the
// metrics listener: the sessions running now, each with its progress, and
// what the master did over the last minute. The master fills it
// (internal/master), the metrics listener serves it (internal/metrics) and
// fbtftp-top reads it. Field names are snake_case with units; adding a
// field is compatible, renaming or removing one is not.
package live

import "time"

// Snapshot is one answer of GET /sessions.
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Sessions are the sessions handed to workers and not finished yet,
	// oldest first.
	Sessions []Session `json:"sessions"`
	// LastMinute counts requests and finished sessions over the last 60
	// seconds.
	LastMinute Recent `json:"last_minute"`
}

// Session is one running session. Everything but its identity comes from
// its worker's last progress report (about every 500 ms), bounded by the
// master like the final stats; before the first report the figures are 0.
type Session struct {
	ID    string `json:"session_id"`
	Peer  string `json:"peer"`
	Local string `json:"local"`
	File  string `json:"file"`
	Op    string `json:"op"`   // "rrq" or "wrq"
	Mode  string `json:"mode"` // "octet" or "netascii"
	// Source is where a download's content comes from: file, template,
	// origin, cache, custom; empty until known and for uploads.
	Source     string `json:"source,omitempty"`
	Blksize    int    `json:"blksize"`
	Windowsize int    `json:"windowsize"`
	// Bytes is the payload acknowledged (a download) or written (an
	// upload) so far; BytesTotal the content's size, -1 when unknown (a
	// download without a known size, an upload without tsize).
	Bytes      uint64 `json:"bytes"`
	BytesTotal int64  `json:"bytes_total"`
	// Rate is the payload rate over the last report interval, bytes per
	// second; 0 when the last report is older than 2 s (stalled).
	Rate        float64 `json:"rate_bytes_per_second"`
	Retransmits uint64  `json:"retransmits"`
	// RTT is the session's smoothed round-trip time (RFC 6298 SRTT, as in
	// its final log line), seconds; 0 until measured.
	RTT             float64 `json:"rtt_seconds"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	// Started is when the request was read; Age the seconds since.
	Started   time.Time `json:"started"`
	Age       float64   `json:"age_seconds"`
	WorkerPID int       `json:"worker_pid"`
}

// Recent counts what the master did over the last minute.
type Recent struct {
	// Seconds is the window the counts cover (60, less right after start).
	Seconds float64 `json:"seconds"`
	// Requests are the datagrams read on the listeners, by decision:
	// accepted, and the refusals (busy, client_limit, rejected,
	// duplicate, malformed). Every decision is present.
	Requests map[string]uint64 `json:"requests"`
	// Outcomes are the sessions finished, by outcome. Every outcome is
	// present.
	Outcomes map[string]uint64 `json:"outcomes"`
}
