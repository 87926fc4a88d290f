package tftp

import (
	"net/netip"
	"time"
)

// Outcome classifies how a session ended. The set is closed (it is a
// metric label) and appears as "outcome" in the master's session line.
type Outcome string

// The session outcomes.
const (
	OutcomeSuccess      Outcome = "success"       // every byte delivered and acknowledged
	OutcomeProbe        Outcome = "probe"         // the UEFI size probe: tsize OACK answered by ERROR 8 (normal)
	OutcomeNotFound     Outcome = "not_found"     // ERROR 1 sent
	OutcomeAccessDenied Outcome = "access_denied" // ERROR 2, 6 or 7 sent
	OutcomeBadOptions   Outcome = "bad_options"   // ERROR 4 or 8 sent, for the mode or the options
	OutcomeClientError  Outcome = "client_error"  // the client sent an ERROR
	OutcomeTimeout      Outcome = "timeout"       // retry budget exhausted, or the session deadline passed
	OutcomeWorkerCrash  Outcome = "worker_crash"  // the worker exited without its stats (set by the master)
	OutcomeServerError  Outcome = "server_error"  // our fault: read or write errors, ERROR 0 or 3 sent
	OutcomeShutdown     Outcome = "shutdown"      // stopped by the server shutting down
)

// Valid reports whether o is one of the Outcome constants.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeSuccess, OutcomeProbe, OutcomeNotFound, OutcomeAccessDenied, OutcomeBadOptions,
		OutcomeClientError, OutcomeTimeout, OutcomeWorkerCrash, OutcomeServerError, OutcomeShutdown:
		return true
	}
	return false
}

// Source says where a download's content came from. The set is closed (it
// is the label of the master's fbtftp_content_sessions_total) and appears
// as "source" in the session line. A ResponseData reports its source with
// a method Source() Source; content that does not counts as SourceCustom.
type Source string

// The content sources.
const (
	SourceNone     Source = ""         // no content was served (an error, an upload)
	SourceFile     Source = "file"     // a file under the root
	SourceTemplate Source = "template" // a *.tmpl file rendered for the client
	SourceOrigin   Source = "origin"   // fetched from an HTTP origin during the session
	SourceCache    Source = "cache"    // a complete copy in the HTTP cache
	SourceCustom   Source = "custom"   // a handler's own content
)

// Valid reports whether s is one of the Source constants, SourceNone
// included.
func (s Source) Valid() bool {
	switch s {
	case SourceNone, SourceFile, SourceTemplate, SourceOrigin, SourceCache, SourceCustom:
		return true
	}
	return false
}

// SessionStats describes one finished session: the worker's report,
// checked and completed by the master, which logs it as the session line
// and hands it to server.Server's SessionStats callback. Identity fields
// come from the master; the transfer fields from the worker's engine.
type SessionStats struct {
	// SessionID is unique among the master's sessions (it appears in
	// every log line about the session).
	SessionID string
	// Peer is the client's address and port; Local the session socket's
	// (the address the client talked to, and the session's port).
	Peer, Local netip.AddrPort
	// Filename is the name the client asked for, before any remap rule.
	Filename string
	// Op is OpRRQ (a download) or OpWRQ (an upload).
	Op Opcode
	// Mode is the transfer mode.
	Mode Mode
	// WorkerPID is the process id of the worker that served the session.
	WorkerPID int

	// OptionsRequested are the client's options, in its order and
	// spelling; OptionsAcked the contents of the OACK (empty when none
	// was sent).
	OptionsRequested []Option
	OptionsAcked     []Option
	// Blksize and Windowsize are the block and window sizes in force (512
	// and 1 unless negotiated); zero when no transfer started.
	Blksize    int
	Windowsize int
	// Tsize is the acknowledged transfer size, -1 when none was.
	Tsize int64

	// PacketsSent and PacketsReceived count the packets on the session
	// socket (DATA, ACK, OACK and ERROR), retransmissions included.
	PacketsSent     uint64
	PacketsReceived uint64
	// Bytes is the payload delivered (a download) or received (an upload),
	// for partial transfers too.
	Bytes uint64
	// Retransmits counts DATA (or ACK and OACK) packets sent again.
	Retransmits uint64
	// RTT is the smoothed round-trip time the session measured between its
	// packets and the client's answers (RFC 6298 SRTT, never from a
	// retransmitted packet: Karn's rule); zero when nothing was measured.
	RTT time.Duration

	// Outcome is how the session ended.
	Outcome Outcome
	// Source is where a download's content came from; SourceNone for
	// uploads and for sessions that ended before any content.
	Source Source
	// ErrorCode and ErrorMessage are those of the ERROR packet sent or
	// received, if any (zero and empty otherwise). The message is the one
	// on the wire: internal details never appear here.
	ErrorCode    ErrorCode
	ErrorMessage string

	// Start is when the worker took the session; Duration how long it
	// lasted until the last packet (for a crashed worker: from the request
	// to the crash).
	Start    time.Time
	Duration time.Duration

	// Origin is the work done with HTTP origins and the cache during the
	// session (zero for handlers that do none).
	Origin OriginStats
}
