package master

import (
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Refusal log limits: at most refusalBurst lines per reason in each
// refusalWindow; the next line after a window with drops says how many
// were dropped ("suppressed"). A flood of refused requests then costs at
// most a line every 2 s per reason (about 13 MB of logs a day), whatever
// its rate; the metrics count every request.
const (
	refusalBurst  = 5
	refusalWindow = 10 * time.Second
)

// Refusal reasons, the "reason" of the log line.
const (
	refusedBusy         = "busy"          // --max-workers sessions in flight, with --busy-error
	refusedUnknownMode  = "unknown_mode"  // neither octet nor netascii
	refusedUploadsOff   = "uploads_off"   // WRQ with uploads disabled
	refusedClientLimit  = "client_limit"  // the client holds --max-sessions-per-client, and as many waiting (dropped, unanswered)
	refusedQueueFull    = "queue_full"    // no slot, and the admission queue is full (dropped, unanswered)
	refusedQueueTimeout = "queue_timeout" // waited, and its client stopped asking (dropped, unanswered)
	numRefusalReasons   = 6
)

func refusalIndex(reason string) int {
	switch reason {
	case refusedBusy:
		return 0
	case refusedUnknownMode:
		return 1
	case refusedClientLimit:
		return 3
	case refusedQueueFull:
		return 4
	case refusedQueueTimeout:
		return 5
	}
	return 2
}

// refusalLimiter decides which refusals are logged: a fixed window per
// reason. The zero value is ready; now is time.Now unless set (tests).
type refusalLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	windows [numRefusalReasons]struct {
		start      time.Time
		logged     int
		suppressed int // in this window
		carried    int // from the previous windows, reported with the next line
	}
}

// allow reports whether a refusal for reason may be logged now, and how many
// earlier ones were dropped since the last line.
func (l *refusalLimiter) allow(reason string) (ok bool, suppressed int) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	t := now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := &l.windows[refusalIndex(reason)]
	if w.start.IsZero() || t.Sub(w.start) >= refusalWindow {
		w.carried += w.suppressed
		w.start, w.logged, w.suppressed = t, 0, 0
	}
	if w.logged >= refusalBurst {
		w.suppressed++
		return false, 0
	}
	w.logged++
	suppressed, w.carried = w.carried, 0
	return true, suppressed
}

// logRefusal logs a request the master refused, within the limits above.
func (m *Master) logRefusal(reason string, peer netip.AddrPort, local netip.Addr, req *proto.Request, msg string) {
	ok, suppressed := m.refusals.allow(reason)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("reason", reason), zap.Stringer("peer", peer), zap.Stringer("local", local)}
	if req != nil {
		fields = append(fields, zap.Stringer("op", req.Op), zap.String("file", req.Filename), zap.String("mode", req.RawMode))
	}
	fields = append(fields, zap.String("error_message", msg))
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	m.log.Warn("request refused", fields...)
}
