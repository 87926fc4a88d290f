package remap

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRunTest(t *testing.T) {
	r := mustParse(t, sampleRules+"rP ^/tftpboot/ /incoming/\nr4 ^ v4:\nr6 ^ v6:\n")
	in := "boot.0\n\r\nx\\y\r\n\n/a.pvt\nok/x\n"
	tests := []struct {
		name  string
		write bool
		rules *Rules
		want  string
	}{
		{"rrq", false, r, "boot.0 -> v4:/tftpboot/boot.0\nx\\y -> v4:/tftpboot/x/y\n/a.pvt -> ABORT\nok/x -> ok/x\n"},
		{"wrq", true, r, "boot.0 -> v4:/incoming/boot.0\nx\\y -> v4:/incoming/x/y\n/a.pvt -> ABORT\nok/x -> ok/x\n"},
		{"no rules", false, nil, "boot.0 -> boot.0\nx\\y -> x\\y\n/a.pvt -> /a.pvt\nok/x -> ok/x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := RunTest(tc.rules, strings.NewReader(in), &out, v4, tc.write); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
	t.Run("ipv6 client", func(t *testing.T) {
		var out bytes.Buffer
		if err := RunTest(r, strings.NewReader("/x\n"), &out, v6, false); err != nil {
			t.Fatal(err)
		}
		if out.String() != "/x -> v6:/x\n" {
			t.Errorf("output %q", out.String())
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestRunTestErrors(t *testing.T) {
	r := mustParse(t, "r a b")
	long := strings.Repeat("a", 70000) + "\n"
	if err := RunTest(r, strings.NewReader(long), &bytes.Buffer{}, v4, false); err == nil {
		t.Error("RunTest accepted a 70000-byte line")
	}
	many := strings.Repeat("a\n", 10000) // more than bufio.Writer's buffer
	if err := RunTest(r, strings.NewReader(many), failingWriter{}, v4, false); err == nil {
		t.Error("RunTest ignored a write error")
	}
	if err := RunTest(r, strings.NewReader("a\n"), failingWriter{}, v4, false); err == nil {
		t.Error("RunTest ignored a flush error")
	}
}
