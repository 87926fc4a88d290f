package remap

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// This file translates a POSIX extended regular expression, in the dialect of
// glibc's regcomp(REG_EXTENDED) in the C locale (the one tftpd-hpa 5.2 uses:
// it never calls setlocale), into Go regexp syntax.
//
// Go's own regexp.CompilePOSIX is close but not the same language: it treats
// a backslash inside brackets as an escape, rejects an unmatched ')', "a**"
// and GNU escapes such as \w and \`, makes '.' skip newlines and '^' match
// after one, and works on UTF-8 runes. So the parser below follows glibc's
// regcomp.c (peek_token, parse_expression, parse_dup_op, parse_bracket_exp)
// token for token and emits an equivalent Go expression that only uses
// explicit byte classes, groups, alternation, repetition and the anchors
// \A \z \b \B.
//
// Byte semantics: a subject string is matched after mapping each byte
// 0x80-0xFF to the rune U+0080-U+00FF (see latin1), and pattern bytes are
// emitted as those runes, so '.' and bracket expressions see single bytes
// exactly like the C locale. REG_ICASE is done the way glibc does it: the
// pattern (except the letter after a backslash and character class names)
// and the subject are upper-cased (ASCII only) before matching.

// reError is a regular expression syntax error, worded like glibc's regerror.
type reError string

func (e reError) Error() string { return string(e) }

// Syntax errors: glibc regerror texts, then this package's own.
const (
	errBadPat   reError = "Invalid regular expression"
	errCollate  reError = "Invalid collation character"
	errCtype    reError = "Invalid character class name"
	errEscape   reError = "Trailing backslash"
	errSubreg   reError = "Invalid back reference"
	errBrack    reError = "Unmatched [, [^, [:, [., or [="
	errParen    reError = "Unmatched ( or \\("
	errBrace    reError = "Unmatched \\{"
	errBadBr    reError = "Invalid content of \\{\\}"
	errRange    reError = "Invalid range end"
	errBadRpt   reError = "Invalid preceding regular expression"
	errSize     reError = "Regular expression too big"
	errBackref  reError = "back-references (\\1-\\9) in a regular expression are not supported"
	errWordEdge reError = "word-edge anchors \\< and \\> are not supported (use \\b)"
	errTooDeep  reError = "parentheses nested too deeply"
)

const (
	reDupMax      = 0x7fff // glibc RE_DUP_MAX
	goRepeatMax   = 1000   // largest count Go's regexp/syntax accepts in {n,m}
	maxNest       = 1000   // Go's regexp/syntax nesting limit
	bracketNameSz = 32     // glibc BRACKET_NAME_BUF_SIZE
)

type tokKind uint8

const (
	tkChar tokKind = iota
	tkEnd
	tkBackslashEnd // a backslash that ends the pattern
	tkAlt
	tkStar
	tkPlus
	tkQuestion
	tkOpenBrace
	tkCloseBrace
	tkOpenParen
	tkCloseParen
	tkOpenBracket
	tkPeriod
	tkAnchor // text in token.anchor
	tkBackref
	tkClass // \w \W \s \S; set in token.class
)

type token struct {
	kind   tokKind
	c      byte   // the byte, for tkChar and for fetchNumber's ',' test
	width  int    // bytes consumed
	anchor string // Go syntax of an anchor, "" for \< and \>
	n      int    // group number of a back-reference
	class  *byteSet
}

// ere is a compiled regular expression of a map rule.
type ere struct {
	re    *regexp.Regexp
	icase bool
	insts int // instructions of the compiled program: the cost of a search per byte
}

// maxInsts bounds the compiled program of one expression, so that a single
// search of a MaxFilenameLen-byte name stays within Apply's work budget
// (glibc has no such limit; "(.{0,100}){100}" is over it).
const maxInsts = 10000

// compileERE compiles pattern like glibc regcomp(pattern, REG_EXTENDED |
// (icase ? REG_ICASE : 0)) in the C locale.
func compileERE(pattern string, icase bool) (*ere, error) {
	p := &ereParser{raw: pattern, icase: icase}
	if icase {
		p.up = upperASCII(pattern)
	} else {
		p.up = pattern
	}
	expr, err := p.parse()
	if err != nil {
		return nil, err
	}
	// The parser has reported every error glibc would; what is left are
	// Go's stricter limits on program size and nesting.
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regular expression not supported by Go's regexp: %w", err)
	}
	re.Longest()
	insts, err := progSize(expr)
	if err != nil {
		return nil, err
	}
	if insts > maxInsts {
		return nil, fmt.Errorf("regular expression too large: %d instructions, the limit is %d", insts, maxInsts)
	}
	return &ere{re: re, icase: icase, insts: insts}, nil
}

// progSize returns the number of instructions regexp compiles expr into.
func progSize(expr string) (int, error) {
	sre, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(sre.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// match runs the expression on s like regexec(s, 10, pmatch, 0). It returns
// nil when there is no match, else 20 byte offsets into s (start and end of
// the whole match and of groups 1-9; -1 for a group that did not take part).
func (e *ere) match(s string) []int {
	subj := s
	if e.icase {
		subj = upperASCII(s)
	}
	mapped, back := latin1(subj)
	loc := e.re.FindStringSubmatchIndex(mapped)
	if loc == nil {
		return nil
	}
	m := make([]int, 20)
	for i := range m {
		m[i] = -1
	}
	for i := 0; i < len(m) && i < len(loc); i++ {
		if loc[i] >= 0 && back != nil {
			m[i] = int(back[loc[i]])
		} else {
			m[i] = loc[i]
		}
	}
	return m
}

// latin1 maps every byte of s to the rune with the same value, encoded as
// UTF-8. For ASCII-only s it returns s and nil; otherwise back maps each
// rune-start offset of the result to the offset of its byte in s.
func latin1(s string) (string, []int32) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s, nil
	}
	var b strings.Builder
	b.Grow(2 * len(s))
	back := make([]int32, 0, 2*len(s)+1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		back = append(back, int32(i))
		if c < 0x80 {
			b.WriteByte(c)
		} else {
			b.WriteByte(0xc0 | c>>6)
			b.WriteByte(0x80 | c&0x3f)
			back = append(back, int32(i)) // continuation byte; never a match boundary
		}
	}
	back = append(back, int32(len(s)))
	return b.String(), back
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if isLower(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = toUpper(b[j])
			}
			return string(b)
		}
	}
	return s
}

// ereParser is a recursive-descent parser over glibc's ERE tokens.
type ereParser struct {
	raw   string // the pattern as written
	up    string // the pattern as glibc reads it (upper-cased under REG_ICASE)
	icase bool
	pos   int
	tok   token

	nsub      int    // groups opened so far
	completed uint16 // bit n-1: group n (1-9) closed, for back-reference checks
}

// frag is the Go syntax of a parsed sub-expression.
type frag struct {
	s      string
	atomic bool // a single literal, class or group: safe to repeat as is
	empty  bool // glibc's NULL tree: matches the empty string, no groups
}

func (p *ereParser) parse() (string, error) {
	p.next()
	f, err := p.regExp(0)
	if err != nil {
		return "", err
	}
	// At nesting level 0 only the end of the pattern stops regExp.
	return f.s, nil
}

// peek reads the token at p.pos (glibc peek_token with
// RE_SYNTAX_POSIX_EXTENDED).
func (p *ereParser) peek() token {
	if p.pos >= len(p.up) {
		return token{kind: tkEnd}
	}
	c := p.up[p.pos]
	if c == '\\' {
		if p.pos+1 >= len(p.up) {
			return token{kind: tkBackslashEnd, c: c, width: 1}
		}
		c2 := p.raw[p.pos+1] // glibc reads this byte before case translation
		t := token{kind: tkChar, c: c2, width: 2}
		switch c2 {
		case '1', '2', '3', '4', '5', '6', '7', '8', '9':
			t.kind, t.n = tkBackref, int(c2-'0')
		case '<', '>':
			t.kind = tkAnchor // anchor "" marks the unsupported word edges
		case 'b':
			t.kind, t.anchor = tkAnchor, `\b`
		case 'B':
			t.kind, t.anchor = tkAnchor, `\B`
		case '`':
			t.kind, t.anchor = tkAnchor, `\A`
		case '\'':
			t.kind, t.anchor = tkAnchor, `\z`
		case 'w':
			t.kind, t.class = tkClass, &wordSet
		case 'W':
			t.kind, t.class = tkClass, &notWordSet
		case 's':
			t.kind, t.class = tkClass, &spaceSet
		case 'S':
			t.kind, t.class = tkClass, &notSpaceSet
		}
		return t
	}
	t := token{kind: tkChar, c: c, width: 1}
	switch c {
	case '|':
		t.kind = tkAlt
	case '*':
		t.kind = tkStar
	case '+':
		t.kind = tkPlus
	case '?':
		t.kind = tkQuestion
	case '{':
		t.kind = tkOpenBrace
	case '}':
		t.kind = tkCloseBrace
	case '(':
		t.kind = tkOpenParen
	case ')':
		t.kind = tkCloseParen
	case '[':
		t.kind = tkOpenBracket
	case '.':
		t.kind = tkPeriod
	case '^':
		t.kind, t.anchor = tkAnchor, `^`
	case '$':
		t.kind, t.anchor = tkAnchor, `$`
	}
	return t
}

// next consumes the current token and reads the following one.
func (p *ereParser) next() {
	p.pos += p.tok.width
	p.tok = p.peek()
}

func closes(t token, nest int) bool { return nest > 0 && t.kind == tkCloseParen }

// regExp parses branches separated by '|' (glibc parse_reg_exp).
func (p *ereParser) regExp(nest int) (frag, error) {
	f, err := p.branch(nest)
	if err != nil {
		return frag{}, err
	}
	if p.tok.kind != tkAlt {
		return f, nil
	}
	alts := []string{f.s}
	for p.tok.kind == tkAlt {
		p.next()
		b := frag{empty: true}
		if p.tok.kind != tkAlt && p.tok.kind != tkEnd && !closes(p.tok, nest) {
			if b, err = p.branch(nest); err != nil {
				return frag{}, err
			}
		}
		alts = append(alts, b.s)
	}
	return frag{s: "(?:" + strings.Join(alts, "|") + ")", atomic: true}, nil
}

// branch parses a concatenation (glibc parse_branch).
func (p *ereParser) branch(nest int) (frag, error) {
	f, err := p.expression(nest)
	if err != nil {
		return frag{}, err
	}
	n := 0
	if !f.empty {
		n = 1
	}
	var b strings.Builder
	b.WriteString(f.s)
	for p.tok.kind != tkAlt && p.tok.kind != tkEnd && !closes(p.tok, nest) {
		e, err := p.expression(nest)
		if err != nil {
			return frag{}, err
		}
		if !e.empty {
			n++
			f = e
		}
		b.WriteString(e.s)
	}
	switch n {
	case 0:
		return frag{s: b.String(), empty: true}, nil
	case 1:
		return frag{s: b.String(), atomic: f.atomic}, nil
	}
	return frag{s: b.String()}, nil
}

// expression parses one atom and the repetition operators after it (glibc
// parse_expression).
func (p *ereParser) expression(nest int) (frag, error) {
	var f frag
	t := p.tok
	switch t.kind {
	case tkChar:
		f = frag{s: literal(t.c), atomic: true}
	case tkAnchor:
		if t.anchor == "" {
			return frag{}, errWordEdge
		}
		// glibc returns here: an anchor cannot be repeated, so a following
		// '*' starts the next expression and is reported as an error.
		p.next()
		return frag{s: t.anchor, atomic: true}, nil
	case tkPeriod:
		f = frag{s: `[\x00-\x{ff}]`, atomic: true}
	case tkClass:
		f = frag{s: classSyntax(t.class), atomic: true}
	case tkAlt, tkEnd:
		return frag{empty: true}, nil
	case tkBackslashEnd:
		return frag{}, errEscape
	case tkOpenParen:
		if nest+1 > maxNest {
			return frag{}, errTooDeep
		}
		g, err := p.subExp(nest + 1)
		if err != nil {
			return frag{}, err
		}
		f = g
	case tkOpenBracket:
		set, err := p.bracket()
		if err != nil {
			return frag{}, err
		}
		f = frag{s: classSyntax(&set), atomic: true}
	case tkBackref:
		if p.completed&(1<<(t.n-1)) == 0 {
			return frag{}, errSubreg
		}
		return frag{}, errBackref
	case tkOpenBrace, tkStar, tkPlus, tkQuestion:
		// RE_CONTEXT_INVALID_OPS: nothing to repeat.
		return frag{}, errBadRpt
	case tkCloseParen, tkCloseBrace:
		// An unmatched ')' (RE_UNMATCHED_RIGHT_PAREN_ORD) and a lone '}'
		// are ordinary characters.
		f = frag{s: literal(t.c), atomic: true}
	default:
		return frag{}, errBadPat
	}
	if t.kind != tkOpenParen && t.kind != tkOpenBracket {
		p.next()
	}
	for p.tok.kind == tkStar || p.tok.kind == tkPlus || p.tok.kind == tkQuestion || p.tok.kind == tkOpenBrace {
		var err error
		if f, err = p.dupOp(f); err != nil {
			return frag{}, err
		}
	}
	return f, nil
}

// subExp parses a parenthesised group; p.tok is the '(' (glibc parse_sub_exp).
func (p *ereParser) subExp(nest int) (frag, error) {
	p.nsub++
	n := p.nsub
	p.next()
	inner := frag{empty: true}
	if p.tok.kind != tkCloseParen {
		var err error
		if inner, err = p.regExp(nest); err != nil {
			return frag{}, err
		}
		if p.tok.kind != tkCloseParen {
			return frag{}, errParen
		}
	}
	p.next()
	if n <= 9 {
		p.completed |= 1 << (n - 1)
	}
	return frag{s: "(" + inner.s + ")", atomic: true}, nil
}

// fetchNumber reads a decimal count inside {} (glibc fetch_number): -1 if
// there are no digits, -2 if the content is invalid or the pattern ends.
func (p *ereParser) fetchNumber() int {
	num := -1
	for {
		p.next()
		t := p.tok
		if t.kind == tkEnd {
			return -2
		}
		if t.kind == tkCloseBrace || t.c == ',' {
			return num
		}
		switch {
		case t.kind != tkChar || !isDigit(t.c) || num == -2:
			num = -2
		case num == -1:
			num = int(t.c - '0')
		default:
			num = min(reDupMax+1, num*10+int(t.c-'0'))
		}
	}
}

// dupOp applies the repetition operator at p.tok to f (glibc parse_dup_op).
func (p *ereParser) dupOp(f frag) (frag, error) {
	lo, hi := 0, -1
	switch p.tok.kind {
	case tkPlus:
		lo = 1
	case tkQuestion:
		hi = 1
	case tkOpenBrace:
		lo = p.fetchNumber()
		if lo == -1 {
			if p.tok.kind == tkChar && p.tok.c == ',' {
				lo = 0 // "{,m}" is "{0,m}"
			} else {
				return frag{}, errBadBr // "{}"
			}
		}
		if lo != -2 {
			switch {
			case p.tok.kind == tkCloseBrace:
				hi = lo
			case p.tok.kind == tkChar && p.tok.c == ',':
				hi = p.fetchNumber()
			default:
				hi = -2
			}
		}
		if lo == -2 || hi == -2 {
			if p.tok.kind == tkEnd {
				return frag{}, errBrace
			}
			return frag{}, errBadBr
		}
		if hi != -1 && lo > hi || p.tok.kind != tkCloseBrace {
			return frag{}, errBadBr
		}
		if max(lo, hi) > reDupMax {
			return frag{}, errSize
		}
		if max(lo, hi) > goRepeatMax {
			return frag{}, fmt.Errorf("repetition count above %d is not supported", goRepeatMax)
		}
	}
	p.next()
	if f.empty {
		return f, nil
	}
	s := f.s
	if !f.atomic {
		s = "(?:" + s + ")"
	}
	switch {
	case lo == 0 && hi == -1:
		s += "*"
	case lo == 1 && hi == -1:
		s += "+"
	case lo == 0 && hi == 1:
		s += "?"
	case hi == -1:
		s += "{" + strconv.Itoa(lo) + ",}"
	case lo == hi:
		s += "{" + strconv.Itoa(lo) + "}"
	default:
		s += "{" + strconv.Itoa(lo) + "," + strconv.Itoa(hi) + "}"
	}
	// A repeated fragment is not atomic: Go rejects "a**", glibc reads it
	// as (a*)*.
	return frag{s: s}, nil
}
