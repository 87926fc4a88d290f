package remap

import (
	"fmt"
	"strings"
)

// This file holds the byte sets of the C locale and glibc's bracket
// expressions ([...]) for the ERE translator in ere.go.

// byteSet is a set of bytes (the C locale has 256 single-byte characters).
type byteSet [4]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}
func (s *byteSet) addFunc(f func(byte) bool) {
	for c := 0; c < 256; c++ {
		if f(byte(c)) {
			s.add(byte(c))
		}
	}
}
func (s *byteSet) invert() {
	for i := range s {
		s[i] = ^s[i]
	}
}

// C-locale <ctype.h> classes.
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool  { return isUpper(c) || isLower(c) }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool  { return isAlpha(c) || isDigit(c) }
func isXdigit(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isSpace(c byte) bool  { return c == ' ' || '\t' <= c && c <= '\r' }
func isBlank(c byte) bool  { return c == ' ' || c == '\t' }
func isPrint(c byte) bool  { return 0x20 <= c && c <= 0x7e }
func isGraph(c byte) bool  { return 0x21 <= c && c <= 0x7e }
func isCntrl(c byte) bool  { return c < 0x20 || c == 0x7f }
func isPunct(c byte) bool  { return isGraph(c) && !isAlnum(c) }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }

func toUpper(c byte) byte {
	if isLower(c) {
		return c - 'a' + 'A'
	}
	return c
}

func toLower(c byte) byte {
	if isUpper(c) {
		return c - 'A' + 'a'
	}
	return c
}

var ctypes = map[string]func(byte) bool{
	"alpha": isAlpha, "upper": isUpper, "lower": isLower, "digit": isDigit,
	"xdigit": isXdigit, "space": isSpace, "print": isPrint, "punct": isPunct,
	"graph": isGraph, "cntrl": isCntrl, "blank": isBlank, "alnum": isAlnum,
}

var (
	wordSet, notWordSet, spaceSet, notSpaceSet byteSet
)

func init() {
	wordSet.addFunc(isWord)
	notWordSet = wordSet
	notWordSet.invert()
	spaceSet.addFunc(isSpace)
	notSpaceSet = spaceSet
	notSpaceSet.invert()
}

// Bracket expression tokens (glibc peek_token_bracket).
const (
	bkChar = iota
	bkEnd
	bkOpenColl   // [.
	bkOpenEquiv  // [=
	bkOpenClass  // [:
	bkRange      // -
	bkClose      // ]
	bkNonMatch   // ^
	bkCollSym    // element types from here on
	bkEquivClass //
	bkCharClass  //
)

type bkToken struct {
	kind  int
	c     byte
	width int
}

func (p *ereParser) peekBracket() bkToken {
	if p.pos >= len(p.up) {
		return bkToken{kind: bkEnd}
	}
	c := p.up[p.pos]
	if c == '[' {
		var c2 byte
		if p.pos+1 < len(p.up) {
			c2 = p.up[p.pos+1]
		}
		switch c2 {
		case '.':
			return bkToken{kind: bkOpenColl, c: c2, width: 2}
		case '=':
			return bkToken{kind: bkOpenEquiv, c: c2, width: 2}
		case ':':
			return bkToken{kind: bkOpenClass, c: c2, width: 2}
		}
		return bkToken{kind: bkChar, c: c, width: 1}
	}
	t := bkToken{kind: bkChar, c: c, width: 1}
	switch c {
	case '-':
		t.kind = bkRange
	case ']':
		t.kind = bkClose
	case '^':
		t.kind = bkNonMatch
	}
	return t
}

// bracketElem is a parsed bracket element: a byte, or a [. .], [= =] or
// [: :] name.
type bracketElem struct {
	kind int // bkChar, bkCollSym, bkEquivClass, bkCharClass
	c    byte
	name string
}

// bracketElement parses one element starting with tok (glibc
// parse_bracket_element). acceptHyphen allows a '-' that is not followed by
// ']'.
func (p *ereParser) bracketElement(tok bkToken, acceptHyphen bool) (bracketElem, error) {
	p.pos += tok.width
	switch tok.kind {
	case bkOpenColl, bkOpenEquiv, bkOpenClass:
		return p.bracketSymbol(tok)
	case bkRange:
		if !acceptHyphen && p.peekBracket().kind != bkClose {
			return bracketElem{}, errRange
		}
	}
	return bracketElem{kind: bkChar, c: tok.c}, nil
}

// bracketSymbol reads the name of [.x.], [=x=] or [:x:] (glibc
// parse_bracket_symbol).
func (p *ereParser) bracketSymbol(tok bkToken) (bracketElem, error) {
	if p.pos >= len(p.up) {
		return bracketElem{}, errBrack
	}
	var name []byte
	for i := 0; ; i++ {
		if i >= bracketNameSz {
			return bracketElem{}, errBrack
		}
		ch := p.up[p.pos]
		if tok.kind == bkOpenClass {
			ch = p.raw[p.pos] // class names are read before case translation
		}
		p.pos++
		if p.pos >= len(p.up) {
			return bracketElem{}, errBrack
		}
		if ch == tok.c && p.up[p.pos] == ']' {
			break
		}
		name = append(name, ch)
	}
	p.pos++
	e := bracketElem{name: string(name)}
	switch tok.kind {
	case bkOpenColl:
		e.kind = bkCollSym
	case bkOpenEquiv:
		e.kind = bkEquivClass
	default:
		e.kind = bkCharClass
	}
	return e, nil
}

// bracket parses a bracket expression; p.tok is the '[' (glibc
// parse_bracket_exp). It leaves p.tok on the token after the ']'.
func (p *ereParser) bracket() (byteSet, error) {
	var set byteSet
	p.pos++ // the '['
	tok := p.peekBracket()
	if tok.kind == bkEnd {
		return set, errBadPat
	}
	nonMatch := false
	if tok.kind == bkNonMatch {
		nonMatch = true
		p.pos += tok.width
		if tok = p.peekBracket(); tok.kind == bkEnd {
			return set, errBadPat
		}
	}
	if tok.kind == bkClose {
		tok.kind = bkChar // a ']' first is an ordinary character
	}
	first := true
	for {
		start, err := p.bracketElement(tok, first)
		if err != nil {
			return set, err
		}
		first = false
		tok = p.peekBracket()
		isRange := false
		var tok2 bkToken
		if start.kind != bkCharClass && start.kind != bkEquivClass {
			if tok.kind == bkEnd {
				return set, errBrack
			}
			if tok.kind == bkRange {
				p.pos += tok.width
				tok2 = p.peekBracket()
				switch tok2.kind {
				case bkEnd:
					return set, errBrack
				case bkClose:
					// A '-' before the ']' is an ordinary character.
					p.pos -= tok.width
					tok.kind = bkChar
				default:
					isRange = true
				}
			}
		}
		if isRange {
			end, err := p.bracketElement(tok2, true)
			if err != nil {
				return set, err
			}
			tok = p.peekBracket()
			if err := addRange(&set, start, end); err != nil {
				return set, err
			}
		} else if err := p.addElem(&set, start); err != nil {
			return set, err
		}
		if tok.kind == bkEnd {
			return set, errBrack
		}
		if tok.kind == bkClose {
			break
		}
	}
	p.pos += tok.width
	if nonMatch {
		set.invert()
	}
	p.tok = p.peek()
	return set, nil
}

func (p *ereParser) addElem(set *byteSet, e bracketElem) error {
	switch e.kind {
	case bkChar:
		set.add(e.c)
	case bkCollSym, bkEquivClass:
		// In the C locale both name exactly one character.
		if len(e.name) != 1 {
			return errCollate
		}
		set.add(e.name[0])
	case bkCharClass:
		name := e.name
		if p.icase && (name == "upper" || name == "lower") {
			name = "alpha"
		}
		f, ok := ctypes[name]
		if !ok {
			return errCtype
		}
		set.addFunc(f)
	}
	return nil
}

// addRange adds the range start-end (glibc build_range_exp, C locale: byte
// order, RE_NO_EMPTY_RANGES).
func addRange(set *byteSet, start, end bracketElem) error {
	if start.kind == bkEquivClass || start.kind == bkCharClass ||
		end.kind == bkEquivClass || end.kind == bkCharClass {
		return errRange
	}
	lo, err := rangeEnd(start)
	if err != nil {
		return err
	}
	hi, err := rangeEnd(end)
	if err != nil {
		return err
	}
	if lo > hi {
		return errRange
	}
	set.addRange(lo, hi)
	return nil
}

func rangeEnd(e bracketElem) (byte, error) {
	if e.kind == bkChar {
		return e.c, nil
	}
	if len(e.name) != 1 {
		return 0, errCollate
	}
	return e.name[0], nil
}

// literal is the Go syntax matching the single byte c (as a Latin-1 rune).
func literal(c byte) string {
	if isAlnum(c) {
		return string(rune(c))
	}
	return fmt.Sprintf(`\x{%x}`, c)
}

// classSyntax is the Go syntax of a character class matching the bytes in s.
func classSyntax(s *byteSet) string {
	var b strings.Builder
	b.WriteByte('[')
	n := 0
	for c := 0; c < 256; {
		if !s.has(byte(c)) {
			c++
			continue
		}
		lo := c
		for c < 256 && s.has(byte(c)) {
			c++
		}
		n++
		if hi := c - 1; hi == lo {
			fmt.Fprintf(&b, `\x{%x}`, lo)
		} else {
			fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, hi)
		}
	}
	if n == 0 {
		return `[^\x00-\x{10ffff}]` // matches nothing
	}
	b.WriteByte(']')
	return b.String()
}
