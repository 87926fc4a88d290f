// Package stats defines the per-session statistics that the transfer engine
// fills, the worker reports and the master accounts for. It never imports
// Prometheus, so the worker binary stays lean.
package stats

import (
	"net/netip"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Outcome classifies how a session ended. The set is closed: it is used as
// a metric label.
type Outcome string

// The session outcomes.
const (
	OutcomeSuccess      Outcome = "success"       // every byte delivered and acknowledged
	OutcomeProbe        Outcome = "probe"         // UEFI size probe: tsize OACK answered by ERROR 8
	OutcomeNotFound     Outcome = "not_found"     // ERROR 1 sent
	OutcomeAccessDenied Outcome = "access_denied" // ERROR 2 sent (also 6: file exists)
	OutcomeBadOptions   Outcome = "bad_options"   // ERROR 4/8 sent for mode or options
	OutcomeClientError  Outcome = "client_error"  // the client sent an ERROR
	OutcomeTimeout      Outcome = "timeout"       // retry budget exhausted
	OutcomeWorkerCrash  Outcome = "worker_crash"  // worker exited without stats (set by the master)
	OutcomeServerError  Outcome = "server_error"  // our fault: read/write errors, ERROR 0/3
	OutcomeShutdown     Outcome = "shutdown"      // stopped by the server shutting down
)

// Outcomes lists every Outcome, for metrics initialisation and validation.
var Outcomes = []Outcome{
	OutcomeSuccess, OutcomeProbe, OutcomeNotFound, OutcomeAccessDenied, OutcomeBadOptions,
	OutcomeClientError, OutcomeTimeout, OutcomeWorkerCrash, OutcomeServerError, OutcomeShutdown,
}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	for _, x := range Outcomes {
		if o == x {
			return true
		}
	}
	return false
}

// OutcomeForCode maps an ERROR code the server sent to an outcome.
func OutcomeForCode(c proto.ErrorCode) Outcome {
	switch c {
	case proto.ErrNotFound:
		return OutcomeNotFound
	case proto.ErrAccessViolation, proto.ErrFileExists, proto.ErrNoSuchUser:
		return OutcomeAccessDenied
	case proto.ErrIllegalOp, proto.ErrOptionRefused:
		return OutcomeBadOptions
	default:
		return OutcomeServerError
	}
}

// Source says where a download's content came from. The set is closed: it
// is used as a metric label.
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

// Sources lists every Source but SourceNone, for metrics.
var Sources = []Source{SourceFile, SourceTemplate, SourceOrigin, SourceCache, SourceCustom}

// Valid reports whether s is SourceNone or one of Sources.
func (s Source) Valid() bool {
	if s == SourceNone {
		return true
	}
	for _, x := range Sources {
		if s == x {
			return true
		}
	}
	return false
}

// SessionStats describes one session. The transfer engine fills the
// transfer fields; the worker and master fill identity fields.
type SessionStats struct {
	SessionID string         // unique per master run, set by the master
	Peer      netip.AddrPort // the client
	Local     netip.AddrPort // the session socket's address
	Filename  string         // as requested
	Op        proto.Opcode   // RRQ or WRQ
	Mode      proto.Mode
	WorkerPID int

	OptionsRequested []proto.Option // in the client's order
	OptionsAcked     []proto.Option // the OACK's contents; empty if none sent
	Blksize          int
	Windowsize       int
	Tsize            int64 // acknowledged tsize, -1 when none

	PacketsSent     uint64
	PacketsReceived uint64
	Bytes           uint64 // payload bytes delivered (RRQ) or received (WRQ)
	Retransmits     uint64 // DATA (or ACK/OACK) packets sent again

	Outcome      Outcome
	Source       Source          // where a download's content came from
	ErrorCode    proto.ErrorCode // code of the ERROR sent or received, if any
	ErrorMessage string          // its message; internal details never go here

	Start    time.Time
	Duration time.Duration

	// Origin is the work done with HTTP origins and the cache during the
	// session (zero for handlers that do none).
	Origin OriginStats
}
