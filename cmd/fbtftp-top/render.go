package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

// sortKey orders the session rows.
type sortKey int

const (
	byAge  sortKey = iota // oldest first
	byRate                // fastest first
)

func (k sortKey) String() string {
	if k == byRate {
		return "rate"
	}
	return "age"
}

// view is what one frame shows besides the snapshot.
type view struct {
	source        string        // the address polled
	sort          sortKey       // row order
	width, height int           // the terminal's size; 0: unbounded (batch mode)
	err           error         // the last poll failed
	interactive   bool          // keys work: say which
	now           time.Time     // the clock shown (the snapshot's when it has one)
	delay         time.Duration // the refresh interval
}

// Column widths of the session table; the file name takes what is left.
const (
	minFileWidth = 8
	barWidth     = 10
)

// render draws one frame: two summary lines, a blank line, the table
// header and one row per session, within v.width columns and v.height lines
// (rows that do not fit become a last "... N more" line).
func render(s *live.Snapshot, v view) []string {
	clock := v.now
	if s != nil && !s.Time.IsZero() {
		clock = s.Time.Local()
	}
	var sessions []live.Session
	var rate float64
	if s != nil {
		sessions = slices.Clone(s.Sessions)
		for _, x := range sessions {
			rate += x.Rate
		}
	}
	keys := "sort: " + v.sort.String()
	if v.interactive {
		keys += " (s: sort, q: quit)"
	}
	lines := []string{fmt.Sprintf("fbtftp-top %s  %s  every %s  %d sessions  %s/s  %s",
		v.source, clock.Format("15:04:05"), v.delay, len(sessions), human(rate), keys)}
	switch {
	case v.err != nil:
		lines = append(lines, "error: "+v.err.Error())
	case s != nil:
		lines = append(lines, lastMinute(s.LastMinute))
	default:
		lines = append(lines, "")
	}
	lines = append(lines, "", header(v.width))
	switch v.sort {
	case byRate:
		slices.SortStableFunc(sessions, func(a, b live.Session) int {
			switch {
			case a.Rate > b.Rate:
				return -1
			case a.Rate < b.Rate:
				return 1
			}
			return a.Started.Compare(b.Started)
		})
	default:
		slices.SortStableFunc(sessions, func(a, b live.Session) int { return a.Started.Compare(b.Started) })
	}
	room := len(sessions)
	if v.height > 0 {
		room = max(v.height-len(lines), 0)
		if room < len(sessions) {
			room = max(room-1, 0) // the "more" line
		}
	}
	for i, x := range sessions {
		if i == room {
			lines = append(lines, fmt.Sprintf("... %d more", len(sessions)-room))
			break
		}
		lines = append(lines, row(x, v.width))
	}
	for i, l := range lines {
		// Names come from clients and the JSON from the network: nothing
		// reaches the terminal as a control sequence.
		lines[i] = printable(l)
		if v.width > 0 {
			lines[i] = clip(lines[i], v.width)
		}
	}
	if v.height > 0 && len(lines) > v.height {
		lines = lines[:v.height]
	}
	return lines
}

// lastMinute is the summary of the master's last minute: the requests by
// decision (accepted, then the refusals) and the sessions by outcome, the
// ones that happened.
func lastMinute(r live.Recent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "last %.0fs: accepted %d", math.Ceil(r.Seconds), r.Requests["accepted"])
	b.WriteString(", refused")
	refused := false
	for _, k := range sortedKeys(r.Requests) {
		if k != "accepted" && r.Requests[k] > 0 {
			fmt.Fprintf(&b, " %s %d", k, r.Requests[k])
			refused = true
		}
	}
	if !refused {
		b.WriteString(" 0")
	}
	b.WriteString(" | outcomes")
	any := false
	for _, k := range sortedKeys(r.Outcomes) {
		if r.Outcomes[k] > 0 {
			fmt.Fprintf(&b, " %s %d", k, r.Outcomes[k])
			any = true
		}
	}
	if !any {
		b.WriteString(" none")
	}
	return b.String()
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fileWidth is the width of the file column in a table width columns wide
// (0: unbounded).
func fileWidth(width int) int {
	if width <= 0 {
		return 32
	}
	return max(width-len(header(-1)), minFileWidth)
}

const rowFormat = "%7s %-21s %-3s %6s %6s %-17s %8s %5s %6s %7s  %s"

// header is the table's header line; width -1 gives it without the file
// column (its fixed part).
func header(width int) string {
	h := fmt.Sprintf(rowFormat, "PID", "PEER", "OP", "BYTES", "SIZE", "PROGRESS", "RATE", "RETR", "RTT", "AGE", "")
	if width < 0 {
		return h
	}
	return h + "FILE"
}

// row is one session's line.
func row(x live.Session, width int) string {
	size := "?"
	if x.BytesTotal >= 0 {
		size = human(float64(x.BytesTotal))
	}
	rate := human(x.Rate) + "/s"
	return fmt.Sprintf(rowFormat, fmt.Sprint(x.WorkerPID), clipLeft(x.Peer, 21), x.Op, human(float64(x.Bytes)), size,
		bar(x.Bytes, x.BytesTotal), rate, fmt.Sprint(x.Retransmits), rtt(x.RTT), age(x.Age), clipLeft(x.File, fileWidth(width)))
}

// bar is a progress bar with the percentage: "[####......] 40%", or
// "[    ?     ]" when the size is unknown.
func bar(done uint64, total int64) string {
	if total < 0 {
		return "[" + strings.Repeat(" ", barWidth/2-1) + "?" + strings.Repeat(" ", barWidth-barWidth/2) + "]     "
	}
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * barWidth)
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat(".", barWidth-n), int(frac*100))
}

// human is a byte count with a binary unit: 512, 1.5K, 12M, 3.2G.
func human(v float64) string {
	const units = "KMGTPE"
	if v < 1024 {
		return fmt.Sprintf("%.0f", max(v, 0))
	}
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}

// rtt is seconds as 0.3ms, 12ms, 1.2s; "-" before the first measurement.
func rtt(sec float64) string {
	switch {
	case sec <= 0:
		return "-"
	case sec < 0.01:
		return fmt.Sprintf("%.1fms", sec*1000)
	case sec < 1:
		return fmt.Sprintf("%.0fms", sec*1000)
	}
	return fmt.Sprintf("%.1fs", sec)
}

// age is seconds as 42s, 3m07s, 2h05m, 3d04h.
func age(sec float64) string {
	s := int64(max(sec, 0))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// clip cuts s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// clipLeft keeps the last n runes of s (a path's end says more than its
// start), marking the cut with "..".
func clipLeft(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 2 {
		return string(r[len(r)-n:])
	}
	return ".." + string(r[len(r)-n+2:])
}

// printable replaces control characters (a client chose the file name:
// it must not reach the terminal as escape sequences) with '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
