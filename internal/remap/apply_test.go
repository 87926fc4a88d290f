package remap

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	v4  = netip.MustParseAddr("192.0.2.169")
	v6  = netip.MustParseAddr("2001:db8::1")
	lo4 = netip.MustParseAddr("127.0.0.1")
)

func mustParse(t testing.TB, text string) *Rules {
	t.Helper()
	r, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return r
}

// Cases marked "in.tftpd" were checked against tftpd-hpa 5.2+20150808
// (Debian 12) with -vvv, reading the remap log and the ERROR messages.
func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		rules  string
		file   string
		write  bool
		client netip.Addr
		want   string // the filename, or "ABORT:message"
	}{
		// Real-world rules.
		{"windows backslashes", `rg \\ /`, `boot\x86\pxelinux.0`, false, v4, "boot/x86/pxelinux.0"},
		{"strip /tftpboot/", `r ^/tftpboot/`, "/tftpboot/pxelinux.0", false, v4, "pxelinux.0"},
		{"strip /tftpboot/ only at start", `r ^/tftpboot/`, "/x/tftpboot/a", false, v4, "/x/tftpboot/a"},
		{"make absolute", `r ^([^/]) /\1`, "pxelinux.0", false, v4, "/pxelinux.0"},
		{"make absolute keeps absolute", `r ^([^/]) /\1`, "/pxelinux.0", false, v4, "/pxelinux.0"},
		{"add prefix", `r ^ /srv/tftp/`, "a/b", false, v4, "/srv/tftp/a/b"},
		{"per-client directory", `r ^ \i/`, "boot.cfg", false, v4, "192.0.2.169/boot.cfg"},
		{"per-client directory v6", `r ^ \i/`, "boot.cfg", false, v6, "2001:db8::1/boot.cfg"},
		{"lower-case", `r ^(.*)$ \L\1`, "PXELINUX.CFG/Default", false, v4, "pxelinux.cfg/default"},
		{"pxelinux hex v4", `r ^pxelinux\.cfg/default$ pxelinux.cfg/\x`, "pxelinux.cfg/default", false, v4, "pxelinux.cfg/C00002A9"},
		{"pxelinux hex v6", `r ^pxelinux\.cfg/default$ pxelinux.cfg/\x`, "pxelinux.cfg/default", false, v6, "pxelinux.cfg/20010DB8000000000000000000000001"},
		{"drive letters", `ri ^[a-z]:`, `C:\boot`, false, v4, `\boot`},
		{"sample.rules in.tftpd", sampleRules, `x\boot\y#1`, false, v4, "/tftpboot/x/boot/y@1"},
		{"sample.rules drive", sampleRules, `C:\boot\x#1`, false, v4, "/boot/x@1"},
		{"sample.rules relative in.tftpd", sampleRules, "boot.0", false, v4, "/tftpboot/boot.0"},
		{"sample.rules ok in.tftpd", sampleRules, "ok/../x", false, v4, "ok/..no../x"},
		{"sample.rules ok exits", sampleRules, "ok/x.pvt", false, v4, "ok/x.pvt"},
		{"sample.rules dotdot in.tftpd", sampleRules, "/a/../b", false, v4, "/a/..no../b"},
		{"sample.rules private in.tftpd", sampleRules, "/a.pvt", false, v4, "ABORT:" + MsgAccessDenied},

		// Operations.
		{"r first match only", "r a b", "aaa", false, v4, "baa"},
		{"r leftmost longest", "r a+ X", "baaa", false, v4, "bX"},
		{"r longest alternative", "r a|ab X", "abc", false, v4, "Xc"},
		{"r empty replacement", "r b", "abc", false, v4, "ac"},
		{"rg", "rg a b", "aXa", false, v4, "bXb"},
		{"rgi in.tftpd", "rgi A b", "aAa", false, v4, "bbb"},
		{"rg rescans from the start", "rg ab b", "aaab", false, v4, "b"},
		{"g without r is ignored", "g a b\nr ^ X", "a", false, v4, "Xa"},
		{"ri", "ri ABC x", "zabcz", false, v4, "zxz"},
		{"no match", "r x y", "abc", false, v4, "abc"},
		{"e stops", "e ^ok/\nr ^ X", "ok/a", false, v4, "ok/a"},
		{"e continues without match", "e ^ok/\nr ^ X", "no", false, v4, "Xno"},
		{"re", "re ^ok/ done/\nr ^ X", "ok/a", false, v4, "done/a"},
		{"e~ in.tftpd", "e~ ^keep\nr ^ X", "other", false, v4, "other"},
		{"e~ matching in.tftpd", "e~ ^keep\nr ^ X", "keep1", false, v4, "Xkeep1"},
		{"rs skips the first rule in.tftpd", "r ^x X0\nr ^y Y1\nrs ^z x", "zq", false, v4, "xq"},
		{"rs resumes at the second rule", "r ^b c\nr ^x b\nrs ^a x", "a", false, v4, "b"},
		{"rs single rule", "rs ^a b", "aa", false, v4, "ba"},
		{"s without r", "s ^z\nr ^ X", "z", false, v4, "Xz"},
		{"es: e wins", "res ^a b\nr ^ X", "a", false, v4, "b"},
		{"a", `a \.pvt$`, "x.pvt", false, v4, "ABORT:" + MsgAccessDenied},
		{"a no match", `a \.pvt$`, "x.pvt2", false, v4, "x.pvt2"},
		{"a message keeps context in.tftpd", `a \.pvt Denied`, "foo.pvt.x", false, v4, "ABORT:fooDenied.x"},
		{"a message escapes", `a ^(.*)\.pvt$ \U\1\E\ is\ private\ (\i)`, "key.pvt", false, v4, "ABORT:KEY is private (192.0.2.169)"},
		{"a empty message in.tftpd", `a ^(.*)$ \E`, "f", false, v4, "ABORT:"},
		{"ra: a wins", "ra x y", "x", false, v4, "ABORT:y"},
		{"a~", "a~ ^ok/", "bad", false, v4, "ABORT:" + MsgAccessDenied},
		{"a~ passes", "a~ ^ok/", "ok/x", false, v4, "ok/x"},
		{"a~ message", `a~ ^ok/ Denied:\0:\i`, "bad", false, lo4, "ABORT:Denied::127.0.0.1"},
		{"G on RRQ", "rG ^ get-", "f", false, v4, "get-f"},
		{"G on WRQ", "rG ^ get-", "f", true, v4, "f"},
		{"P on WRQ", "rP ^ put-", "f", true, v4, "put-f"},
		{"P on RRQ", "rP ^ put-", "f", false, v4, "f"},
		{"GP is P in.tftpd", "rGP ^ put-\nrPG ^ get-", "f", false, v4, "get-f"},
		{"GP is P on WRQ", "rGP ^ put-\nrPG ^ get-", "f", true, v4, "put-f"},
		{"4 on v4 in.tftpd", "r4 ^ v4-\nr6 ^ v6-\nr46 ^ both-", "f", false, v4, "v4-f"},
		{"6 on v6 in.tftpd", "r4 ^ v4-\nr6 ^ v6-\nr46 ^ both-", "f", false, v6, "v6-f"},
		{"4 on mapped v4", "r4 ^ v4-", "f", false, netip.MustParseAddr("::ffff:192.0.2.1"), "v4-f"},
		{"neither without address", "r4 ^ v4-\nr6 ^ v6-", "f", false, netip.Addr{}, "f"},
		{"filtered rules do not count", strings.Repeat("rP ^ x\n", 2000) + "r ^ ok-", "f", false, v4, "ok-f"},

		// Replacement escapes.
		{`\0`, `r b[0-9]+ <\0>`, "ab12c", false, v4, "a<b12>c"},
		{`\1-\9`, `r ^(.)(.)(.)(.)(.)(.)(.)(.)(.)(.) \9\8\7\6\5\4\3\2\1\0`, "abcdefghij", false, v4, "ihgfedcbaabcdefghij"},
		{"unset group", `r ^(a)|(b) [\1\2]`, "b", false, v4, "[b]"},
		{"group beyond the regex", `r ^a <\5>`, "a", false, v4, "<>"},
		{"case in.tftpd", "r b \\U\\0x\nr ^(.*)$ \\1-\\U\\1\\Ex\\L\\1", "abc", false, v4, "aBXc-ABXCxabxc"},
		{"case covers macros", `r ^ \L\x/`, "f", false, v4, "c00002a9/f"},
		{"case covers escaped chars", `r ^ \UA\b\c`, "f", false, v4, "ABCf"},
		{"case leaves non-ASCII", "r ^(.*)$ \\U\\1", "\xe9t\xc3\xa9", false, v4, "\xe9T\xc3\xa9"},
		{"other escapes in.tftpd", `r ^(.*)$ \1\n\t\.\\\#\ Z\q`, "f", false, v4, `fnt.\# Zq`},
		{"trailing backslash", "r ^q X\\", "q", false, v4, `X\`},
		{"escaped newline in.tftpd", "r ^q X\\\n", "q", false, v4, "X\n"},
		{"hash ends fields in.tftpd", "r abc#def xyz", "abcq", false, v4, "q"},
		{"escaped hash", `r \# @`, "a#b", false, v4, "a@b"},
		{"escaped space", `r a\ b a_b`, "xa by", false, v4, "xa_by"},
		{`\i IPv4-compatible`, `r ^ \i`, "", false, netip.MustParseAddr("::1.2.3.4"), "::1.2.3.4"},
		{`\i zone`, `r ^ \i|`, "f", false, netip.MustParseAddr("fe80::1%eth0"), "fe80::1|f"},
		{`\i \x without address`, `r ^ [\i\x]`, "f", false, netip.Addr{}, "[]f"},
		{`\x mapped`, `r ^ \x`, "", false, netip.MustParseAddr("::ffff:10.0.0.1"), "0A000001"},

		// Input handling.
		{"NUL ends the filename", "r ^ X", "a\x00b", false, v4, "Xa"},
		{"empty filename", "r ^$ index", "", false, v4, "index"},
		{"byte semantics", "r ^.", "\xc3\xa9", false, v4, "\xa9"},

		// Limits.
		{"1024 steps in.tftpd", strings.Repeat("r ^NOMATCH x\n", 1023) + "r ^ ok-", "f", false, lo4, "ok-f"},
		{"1025 steps in.tftpd", strings.Repeat("r ^NOMATCH x\n", 1024) + "r ^ ok-", "f", false, lo4, "ABORT:" + MsgTableFailure},
		{"restart loop in.tftpd", "e ^NEVER\nrs ^(a*)$ \\1a", "a", false, lo4, "ABORT:" + MsgTableFailure},
		{"growing g", "rg x xx", "x", false, v4, "ABORT:" + MsgTableFailure},
		{"endless g", "rg a a", "a", false, v4, "ABORT:" + MsgTableFailure},
		{"endless empty g", "rg ^", "abc", false, v4, "ABORT:" + MsgTableFailure},
		{"result too long", `r ^(.*)$ \1\1`, strings.Repeat("x", 3000), false, v4, "ABORT:" + MsgTableFailure},
		{"result at the limit", `r ^(.*)$ \1\1`, strings.Repeat("x", 2048), false, v4, strings.Repeat("x", 4096)},
		{"input too long", "r ^ x", strings.Repeat("x", MaxFilenameLen+1), false, v4, "ABORT:" + MsgTableFailure},
		{"long abort message is cut", `a ^ \0` + strings.Repeat("m", 100), strings.Repeat("x", 4090), false, v4, "ABORT:" + strings.Repeat("m", 100) + strings.Repeat("x", 3996)},
		{"long abort message from macros", `a ^ ` + strings.Repeat(`\i`, 500), "x", false, v4, "ABORT:" + strings.Repeat("192.0.2.169", 500)[:MaxFilenameLen]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.rules)
			start := time.Now()
			res := r.Apply(Request{Filename: tc.file, Write: tc.write, Client: tc.client})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Apply took %v", d)
			}
			got := res.Filename
			if res.Abort {
				got = "ABORT:" + res.Message
				if res.Filename != "" {
					t.Errorf("Filename = %q with Abort", res.Filename)
				}
			}
			if got != tc.want {
				t.Errorf("Apply(%q) = %q, want %q\ntrace: %q", tc.file, got, tc.want, res.Trace)
			}
			if len(res.Filename) > MaxFilenameLen || len(res.Message) > MaxFilenameLen {
				t.Errorf("result over MaxFilenameLen: %d, %d", len(res.Filename), len(res.Message))
			}
			if len(res.Trace) > maxTrace+2 {
				t.Errorf("trace has %d lines", len(res.Trace))
			}
		})
	}
}

const sampleRules = `#
# Sample rule file for the -m (remapping option)
# (tftpd-hpa's tftpd/sample.rules)
#
ri	^[a-z]:				# Remove "drive letters"
rg	\\		/		# Convert backslashes to slashes
rg	\#		@		# Convert hash marks to @ signs
rg	/../		/..no../	# Convert /../ to /..no../
e	^ok/				# These are always ok
r	^[^/]		/tftpboot/\0	# Convert non-absolute files
a	\.pvt$				# Reject requests for private files
`

func TestApplyTrace(t *testing.T) {
	tests := []struct {
		name, rules, file string
		want              []string
	}{
		{"rewrite and done", "r ^a b\nr ^x y", "aa", []string{
			"remap: input: aa",
			"remap: rule 0: rewrite: ba",
			"remap: done",
		}},
		{"g logs every step", "rg a b", "aa", []string{
			"remap: input: aa",
			"remap: rule 0: rewrite: ba",
			"remap: rule 0: rewrite: bb",
			"remap: done",
		}},
		{"exit", "e ^a\nr ^ x", "a", []string{
			"remap: input: a",
			"remap: rule 0: exit",
		}},
		{"restart", "r ^y z\nrs ^a y", "a", []string{
			"remap: input: a",
			"remap: rule 1: rewrite: y",
			"remap: rule 1: restart",
			"remap: done",
		}},
		{"abort", "a ^a", "ab", []string{
			"remap: input: ab",
			"remap: rule 0: abort: ab",
		}},
		{"no rule fired", "r x y", "a", []string{
			"remap: input: a",
			"remap: done",
		}},
		{"too long", `r ^(.*)$ \1\1`, strings.Repeat("x", 3000), []string{
			"remap: input: " + strings.Repeat("x", 3000),
			"remap: rule 0: result longer than 4096 bytes",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustParse(t, tc.rules).Apply(Request{Filename: tc.file, Client: v4})
			if !slices.Equal(res.Trace, tc.want) {
				t.Errorf("Trace = %q, want %q", res.Trace, tc.want)
			}
		})
	}

	t.Run("breaking loop is kept after truncation", func(t *testing.T) {
		res := mustParse(t, "e ^NEVER\nrs ^(a*)$ \\1a").Apply(Request{Filename: "a", Client: v4})
		if len(res.Trace) != maxTrace+2 {
			t.Fatalf("len(Trace) = %d, want %d", len(res.Trace), maxTrace+2)
		}
		if res.Trace[maxTrace] != "remap: trace truncated" {
			t.Errorf("Trace[%d] = %q", maxTrace, res.Trace[maxTrace])
		}
		// As in.tftpd logs it: 1023 rewrites of rule 1 after one visit of rule 0.
		want := "remap: Breaking loop, input = a, last = " + strings.Repeat("a", 1024)
		if last := res.Trace[len(res.Trace)-1]; last != want {
			t.Errorf("last trace line = %.80q..., want %.80q...", last, want)
		}
	})
}

func TestApplyNoRules(t *testing.T) {
	for _, r := range []*Rules{nil, {}, mustParse(t, "# only a comment\n\n")} {
		res := r.Apply(Request{Filename: "a\x00b", Client: v4})
		if res.Filename != "a" || res.Abort || res.Trace != nil {
			t.Errorf("Apply on %d rules = %+v", r.Len(), res)
		}
	}
}

func TestApplyConcurrent(t *testing.T) {
	r := mustParse(t, sampleRules)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if got := r.Apply(Request{Filename: `C:\a`, Client: v4}).Filename; got != "/a" {
					t.Errorf("got %q", got)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func TestIPFormats(t *testing.T) {
	tests := []struct{ addr, text, hex string }{
		{"192.0.2.169", "192.0.2.169", "C00002A9"},
		{"0.0.0.1", "0.0.0.1", "00000001"},
		{"::1", "::1", "00000000000000000000000000000001"},
		{"::", "::", "00000000000000000000000000000000"},
		{"::5", "::5", "00000000000000000000000000000005"},
		{"::102:304", "::1.2.3.4", "00000000000000000000000001020304"},
		{"::1:0", "::0.1.0.0", "00000000000000000000000000010000"},
		{"2001:db8:0:1::", "2001:db8:0:1::", "20010DB8000000010000000000000000"},
		{"2001:db8::1:0:0:1", "2001:db8::1:0:0:1", "20010DB8000000000001000000000001"},
		{"fe80::1%eth0", "fe80::1", "FE800000000000000000000000000001"},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		if got := ipText(a); got != tc.text {
			t.Errorf(`\i of %s = %q, want %q`, tc.addr, got, tc.text)
		}
		if got := ipHex(a); got != tc.hex {
			t.Errorf(`\x of %s = %q, want %q`, tc.addr, got, tc.hex)
		}
	}
}

// BenchmarkApplyWorst measures the slowest request the work bound allows.
func BenchmarkApplyWorst(b *testing.B) {
	r := mustParse(b, "rg (a|b)*c(a|b)* x")
	name := strings.Repeat("ab", 2047) + "c"
	for b.Loop() {
		r.Apply(Request{Filename: name, Client: v4})
	}
}

func BenchmarkApplySample(b *testing.B) {
	r := mustParse(b, sampleRules)
	for b.Loop() {
		r.Apply(Request{Filename: `C:\boot\pxelinux.0`, Client: v4})
	}
}
