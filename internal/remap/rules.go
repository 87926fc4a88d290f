package remap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits on a map file. tftpd-hpa 5.2 has the first and the third (see the
// package documentation for how it behaves past them); the others keep a
// hostile or broken file from exhausting memory.
const (
	// MaxLineLen is the longest line, in bytes without its newline, that
	// Parse accepts. tftpd-hpa reads lines with fgets into a 16384-byte
	// buffer (remap.c MAXLINE) and silently splits longer ones; Parse
	// reports them as errors instead.
	MaxLineLen = 16383

	// MaxRules is the largest number of rules Parse accepts.
	MaxRules = 10000

	// MaxSteps is the number of rule evaluations Apply performs before it
	// gives up with "Remap table failure": tftpd-hpa's DEADMAN_MAX_STEPS.
	// Every rule that applies to the request (after the G, P, 4 and 6
	// filters) counts, whether it matches or not, so a file with more than
	// MaxSteps such rules fails every request, as it does in tftpd-hpa.
	MaxSteps = 1024

	// MaxFilenameLen bounds the filename Apply works on, before and after
	// every rewrite (PATH_MAX). A longer input or result fails the request
	// with "Remap table failure"; tftpd-hpa has no bound.
	MaxFilenameLen = 4096
)

// Rule flags (remap.c RULE_*).
const (
	flagRewrite = 1 << iota // r
	flagGlobal              // g (only kept with r)
	flagExit                // e
	flagRestart             // s
	flagAbort               // a
	flagInverse             // ~
	flagIPv4                // 4
	flagIPv6                // 6
)

// rule is one line of a map file.
type rule struct {
	line    int // 1-based line number in the file
	num     int // 0-based rule number, as tftpd-hpa logs it
	flags   uint16
	mode    byte // 'G' (RRQ only), 'P' (WRQ only) or 0 (both)
	re      *ere
	pattern string // replacement or abort message, escapes not yet expanded
}

// Rules is a parsed map file. Its zero value and a nil *Rules have no rules
// and map every filename to itself. A Rules is never modified after Parse,
// so Apply may be called from any number of goroutines.
type Rules struct {
	rules []rule
}

// Len returns the number of rules.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.rules)
}

// ParseError describes one bad line of a map file.
type ParseError struct {
	Line int    // 1-based line number
	Msg  string // what is wrong, in tftpd-hpa's words where it has them
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("map file line %d: %s", e.Line, e.Msg)
}

// Parse reads a map file. Like tftpd-hpa it reads the whole file and reports
// every bad line: the error is a *ParseError or several joined with
// errors.Join. tftpd-hpa then exits with EX_CONFIG (78), at startup and on a
// SIGHUP reload alike; a caller that wants the same behaviour exits on any
// error.
func Parse(r io.Reader) (*Rules, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	rs := &Rules{}
	var errs []error
	for lineno := 1; ; lineno++ {
		line, err := readLine(br)
		if errors.Is(err, errLineTooLong) {
			errs = append(errs, &ParseError{Line: lineno, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineLen)})
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading map file: %w", err)
		}
		if len(line) > 0 {
			ru, ok, perr := parseLine(line, lineno)
			switch {
			case perr != nil:
				errs = append(errs, perr)
			case ok && len(rs.rules) == MaxRules:
				errs = append(errs, &ParseError{Line: lineno, Msg: fmt.Sprintf("more than %d rules", MaxRules)})
				return nil, errors.Join(errs...)
			case ok:
				ru.num = len(rs.rules)
				rs.rules = append(rs.rules, ru)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rs, nil
}

// ParseFile reads the map file at path; see Parse.
func ParseFile(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line including its '\n', as fgets does (an
// escaped newline belongs to the token before it). It returns io.EOF with
// the last line if that has no newline, and errLineTooLong, having skipped
// the rest of the line, for a line over MaxLineLen.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			n := len(line)
			if n > 0 && line[n-1] == '\n' {
				n--
			}
			if n > MaxLineLen {
				tooLong, line = true, nil
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong && (err == nil || err == io.EOF) {
			return nil, errLineTooLong
		}
		return line, err
	}
}

// nextToken extracts a string terminated by unescaped whitespace, skipping
// leading whitespace; an unescaped '#' ends it and everything after it is a
// comment (remap.c readescstring). Backslashes are kept: the regex compiler
// and the replacement expander interpret them.
func nextToken(line []byte, pos int) (tok string, next int) {
	for pos < len(line) && isSpace(line[pos]) {
		pos++
	}
	start := pos
	wasBackslash := false
	for pos < len(line) {
		c := line[pos]
		if !wasBackslash && (isSpace(c) || c == '#') {
			break
		}
		// Two backslashes leave the escape state.
		wasBackslash = !wasBackslash && c == '\\'
		pos++
	}
	return string(line[start:pos]), pos
}

// parseLine parses one line (remap.c parseline). ok is false for a line
// without a rule.
func parseLine(line []byte, lineno int) (ru rule, ok bool, err error) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i] // C string: a NUL ends the line
	}
	ops, pos := nextToken(line, 0)
	if ops == "" {
		return rule{}, false, nil
	}
	ru.line = lineno
	icase := false
	for i := 0; i < len(ops); i++ {
		switch c := ops[i]; c {
		case 'r':
			ru.flags |= flagRewrite
		case 'g':
			ru.flags |= flagGlobal
		case 'e':
			ru.flags |= flagExit
		case 's':
			ru.flags |= flagRestart
		case 'a':
			ru.flags |= flagAbort
		case 'i':
			icase = true
		case '~':
			ru.flags |= flagInverse
		case '4':
			ru.flags |= flagIPv4
		case '6':
			ru.flags |= flagIPv6
		case 'G', 'P':
			ru.mode = c // the last of G and P wins
		default:
			return rule{}, false, &ParseError{Line: lineno,
				Msg: fmt.Sprintf("remap command %q contains invalid char %q", ops, c)}
		}
	}
	if ru.flags&flagRewrite == 0 {
		ru.flags &^= flagGlobal // g only means something with r
	}
	if ru.flags&(flagInverse|flagRewrite) == flagInverse|flagRewrite {
		return rule{}, false, &ParseError{Line: lineno, Msg: "r rules cannot be inverted"}
	}
	rx, pos := nextToken(line, pos)
	if rx == "" {
		return rule{}, false, &ParseError{Line: lineno, Msg: "no regex"}
	}
	if ru.re, err = compileERE(rx, icase); err != nil {
		return rule{}, false, &ParseError{Line: lineno, Msg: "bad regex: " + err.Error()}
	}
	ru.pattern, _ = nextToken(line, pos)
	return ru, true, nil
}
