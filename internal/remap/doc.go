// Package remap implements the filename remapping rules of tftpd-hpa 5.2
// (in.tftpd -m/--map-file), so that existing map files keep working
// unchanged. The behaviour follows tftpd-hpa's tftpd/remap.c and tftpd.c
// (5.2+20150808, the version Debian 12 ships) and was checked against that
// binary; the differences are listed at the end.
//
// # The map file
//
// Each line holds one rule:
//
//	OPERATIONS  REGEX  [REPLACEMENT]
//
// The three fields are separated by whitespace (space, tab, \v, \f, \r). A
// backslash protects the next character from ending a field, so "\ " puts a
// space in a field and "\#" a hash mark; the backslash itself stays in the
// field, where the regular expression compiler or the replacement expander
// interprets it. An unescaped '#' starts a comment, even in the middle of a
// field ("r abc#x y" is the rule "r abc" with an empty replacement). Blank
// lines and comment lines are ignored. A backslash at the very end of a line
// escapes the newline, which then belongs to the field.
//
// OPERATIONS is any combination of these letters:
//
//	r  replace the text the REGEX matched by REPLACEMENT
//	g  repeat the rule until the REGEX no longer matches (only with r; ignored alone)
//	i  match the REGEX case-insensitively (ASCII letters only)
//	e  if the rule matched, stop: the current filename is the result
//	s  if the rule matched, start over (see below)
//	a  if the rule matched, refuse the request (ERROR 2)
//	G  the rule only applies to read requests (RRQ, get)
//	P  the rule only applies to write requests (WRQ, put)
//	4  the rule only applies to IPv4 clients
//	6  the rule only applies to IPv6 clients
//	~  the rule "matches" when the REGEX does not match; cannot be combined with r
//
// If both G and P appear, the last one wins. A rule with both 4 and 6 never
// applies. Any other character makes the file invalid.
//
// REGEX is a POSIX extended regular expression as glibc's regcomp reads it
// in the C locale (see "Regular expressions" below); it is searched for
// anywhere in the filename, so anchor it with ^ and $ as needed.
//
// REPLACEMENT is copied literally except for these escapes:
//
//	\0        the whole text the REGEX matched
//	\1 .. \9  the text matched by the first nine parenthesised groups (empty if unset)
//	\i        the client's IP address: 192.0.2.169, 2001:db8::1
//	\x        the client's IP address in upper-case hexadecimal, 8 digits for
//	          IPv4 (C00002A9) and 32 for IPv6 (20010DB8000000000000000000000001)
//	\U        upper-case (ASCII) everything after it, including \0-\9, \i, \x ...
//	\L        ... lower-case it ...
//	\E        ... until \E
//	\\        a backslash; any other escaped character stands for itself,
//	          so "\ " is a space, "\#" a hash mark and "\n" the letter n
//
// A lone backslash at the end of REPLACEMENT is a backslash. The text of the
// filename before and after the match is kept and is never case-converted.
//
// # How rules are applied
//
// Rules run from the top on the filename exactly as the client sent it; each
// rule sees the result of the ones before. A rule that does not apply to the
// request (G, P, 4, 6) is skipped. Otherwise its REGEX is matched against the
// current filename, and if it matches (does not match, for ~):
//
//   - a: the request is refused with ERROR code 2. The message is
//     "Access denied" if the rule has no REPLACEMENT field; otherwise it is
//     REPLACEMENT expanded like a replacement, and, as in tftpd-hpa, with the
//     text around the match kept: "a \.pvt$ Private" refuses "notes.pvt"
//     with the message "notesPrivate".
//   - r: the matched text is replaced (only the first, leftmost-longest
//     match); with g the rule is matched again, from the start of the new
//     filename, until it no longer matches. Beware: "rg a a" or "rg x* y"
//     never stop on their own (see Limits).
//   - e: processing stops.
//   - s: processing starts over. Exactly as in tftpd-hpa 5.2, it resumes at
//     the second rule of the file: the first rule is not run again.
//
// a takes precedence over r, and e over s. When all rules have run, the
// current filename is the result; the server then checks it as usual
// (absolute path, directories, permissions).
//
// # Regular expressions
//
// The REGEX field is read by this package's own parser for glibc's
// RE_SYNTAX_POSIX_EXTENDED in the C locale (tftpd-hpa 5.2 never calls
// setlocale), which then hands an equivalent expression to Go's regexp
// package in leftmost-longest mode. So, as in tftpd-hpa:
//
//   - Matching is on bytes: '.' and [^x] match any single byte, including a
//     newline and each byte of a UTF-8 sequence; character classes
//     ([:alpha:] ...) and the i flag only know ASCII.
//   - '^' and '$' only match at the start and end of the filename.
//   - A backslash inside brackets is an ordinary character: [\/] is a
//     backslash or a slash. A ']' first in brackets is a literal; [.x.] and
//     [=x=] name the single character x.
//   - An unmatched ')' and a lone '}' are literals; "a**" and "a+?" mean
//     (a*)* and (a+)?; {,n} means {0,n}.
//   - GNU escapes: \w \W \s \S, \b \B (word boundary or not), \` and \'
//     (start and end of the filename). Outside brackets, any other escaped
//     character stands for itself: "\." is a dot, "\n" the letter n.
//   - With i, both the pattern and the filename are upper-cased before
//     matching, so "[a-z]" matches letters of both cases, "[Z-a]" is an
//     invalid range, and an escaped lower-case letter such as "\a" never
//     matches, all exactly as with glibc.
//   - Errors use glibc's words ("Unmatched ( or \(", "Invalid range end", ...).
//
// A few constructs glibc accepts are refused with an error when the file is
// loaded, because Go's regexp cannot express them: back-references \1-\9 in
// the REGEX, the word-edge anchors \< and \>, repetition counts above 1000
// (glibc allows 32767), nested counts whose product is above 1000, such as
// "(a{0,100}){50}", and expressions that compile to more than 10000
// instructions, such as six ".{0,1000}" in a row.
//
// When several leftmost-longest matches exist, the groups \1-\9 may differ
// from glibc's choice in rare cases: Go takes the one a backtracking matcher
// finds first, glibc's choice is not consistent. For example "(b|c)$|c" on
// "c" sets \1 to "c" here and leaves it unset in glibc; "|(a*)" sets \1 in
// glibc and not here. The whole match (\0) is always the same. A test
// compares the translation with glibc on over 2000 expressions.
//
// # Limits
//
// tftpd-hpa stops a request that is still being remapped after 1024 rule
// evaluations (MaxSteps) with ERROR 2 "Remap table failure"; this package
// does the same, counting in the same way: every rule that applies to the
// request counts once when it is reached, matching or not, and a g rule
// counts once however often it repeats. A map file with more than 1024
// rules that apply to a request fails it unless an e or a rule stops
// earlier, in both.
//
// tftpd-hpa has no other bound: "rg a a" or "rg x x" hangs or exhausts the
// memory of the process serving the request. This package also fails the
// request with "Remap table failure" when
//
//   - the filename, as received or after any rewrite, is longer than
//     MaxFilenameLen (4096) bytes, or
//   - the regular expression searches of one request have done 64 Mi units
//     of work, a search costing the length of the filename times the size of
//     the expression's compiled program (its steps per byte in the worst
//     case), plus 4096. This bounds any request, g loops included, to about
//     half a second of CPU time at worst on a slow machine; a typical
//     request takes microseconds.
//
// An abort message longer than 4096 bytes is cut there. Parse refuses a
// file with more than MaxRules (10000) rules or a line longer than
// MaxLineLen (16383) bytes. Trace keeps at most 100 lines plus the final
// one.
//
// # Logging and testing
//
// Result.Trace holds the lines tftpd-hpa logs with -vvv, in its words:
//
//	remap: input: FILENAME
//	remap: rule N: rewrite: NEWNAME        (each replacement, so each g repeat)
//	remap: rule N: restart
//	remap: rule N: exit
//	remap: rule N: abort: FILENAME
//	remap: done
//	remap: Breaking loop, input = FILENAME, last = NEWNAME
//
// where N counts the rules of the file from 0. RunTest applies the rules to
// a list of filenames and prints one "filename -> result" line each, for a
// --map-test mode.
//
// # Differences from tftpd-hpa 5.2
//
//   - Regular expressions: back-references, \< and \>, counts above 1000
//     and very large expressions are refused at load time; submatch choice
//     may differ on ties (see above).
//   - The limits above: tftpd-hpa would hang, exhaust memory, or pass an
//     over-long name on to open(), which fails.
//   - An "a~" rule with a message: tftpd-hpa 5.2 builds the message around
//     an unset match (offsets -1), reading and writing outside its buffer;
//     the Debian binary sends the expanded message without its first
//     character, or the filename when the expansion is empty. This package
//     sends the expanded message (\0-\9 empty), as later tftp-hpa versions
//     do. An "a~" rule without a message behaves the same in both.
//   - tftpd-hpa sizes its buffer as if \x expanded to nothing and then
//     writes the digits past it (a heap overflow); the text is the same.
//   - Client addresses are handled unmapped: an IPv4 client that reached an
//     IPv6 socket as ::ffff:a.b.c.d is an IPv4 client here (\i is a.b.c.d,
//     \x has 8 digits, 4 rules apply), whereas tftpd-hpa run from inetd or
//     systemd on a dual-stack socket treats it as IPv6. \i never shows an
//     IPv6 zone.
//   - Trace: "restart" names the rule that restarted (tftpd-hpa 5.2 always
//     logs the number of the first rule), rule numbers start at 0 for every
//     file (tftpd-hpa keeps counting across SIGHUP reloads), and the extra
//     lines for this package's limits.
//   - Parse reports a line over 16383 bytes as an error; tftpd-hpa splits it
//     into several lines. A NUL byte ends a line, and a filename, in both.
//   - The i flag never folds non-ASCII letters, as in tftpd-hpa 5.2 (later
//     versions call setlocale).
package remap
