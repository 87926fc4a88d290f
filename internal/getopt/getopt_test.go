package getopt

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type rec struct{ name, arg string }
	var got []rec
	set := func(name, arg string) error { got = append(got, rec{name, arg}); return nil }
	opts := []Option{
		{Short: 'L', Long: "foreground", Set: set},
		{Short: 'l', Long: "listen", Set: set},
		{Short: 'v', Long: "verbose", Set: set},
		{Long: "verbosity", HasArg: true, Set: set},
		{Short: 'a', Long: "address", HasArg: true, Set: set},
		{Short: 's', Long: "secure", Set: set},
		{Short: 's', Long: "chroot", Set: set},
		{Short: 'u', Long: "user", HasArg: true, Set: set},
	}
	cases := []struct {
		args     []string
		want     []rec
		operands []string
		err      string
	}{
		{[]string{"--listen", "--user", "tftp", "--address", ":69", "--secure", "/srv/tftp"},
			[]rec{{"--listen", ""}, {"--user", "tftp"}, {"--address", ":69"}, {"--secure", ""}}, []string{"/srv/tftp"}, ""},
		{[]string{"-s", "/var/lib/tftpboot"}, []rec{{"-s", ""}}, []string{"/var/lib/tftpboot"}, ""},
		{[]string{"-vvLa:69", "dir"}, []rec{{"-v", ""}, {"-v", ""}, {"-L", ""}, {"-a", ":69"}}, []string{"dir"}, ""},
		{[]string{"dir1", "-a", "[::1]:69", "dir2"}, []rec{{"-a", "[::1]:69"}}, []string{"dir1", "dir2"}, ""},
		{[]string{"--address=:6969", "--addr", "x", "--verbosity=3"}, []rec{{"--address", ":6969"}, {"--address", "x"}, {"--verbosity", "3"}}, nil, ""},
		{[]string{"--", "-L"}, nil, []string{"-L"}, ""},
		{[]string{"-"}, nil, []string{"-"}, ""},
		{[]string{"--verbos"}, nil, nil, "ambiguous"},
		{[]string{"--bogus"}, nil, nil, "unrecognized option '--bogus'"},
		{[]string{"-x"}, nil, nil, "invalid option -- 'x'"},
		{[]string{"-a"}, nil, nil, "requires an argument -- 'a'"},
		{[]string{"--user"}, nil, nil, "'--user' requires an argument"},
		{[]string{"--listen=yes"}, nil, nil, "doesn't allow an argument"},
		{[]string{"--sec"}, []rec{{"--secure", ""}}, nil, ""},
	}
	for _, c := range cases {
		got = nil
		ops, err := Parse(opts, c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(ops, c.operands) {
			t.Errorf("%v: got %v %v %v, want %v %v", c.args, got, ops, err, c.want, c.operands)
		}
	}
}

func TestSetError(t *testing.T) {
	opts := []Option{{Short: 'B', Long: "blocksize", HasArg: true, Set: func(string, string) error { return errBad }}}
	_, err := Parse(opts, []string{"-B", "x"})
	if err == nil || err.Error() != "option '-B': bad value" {
		t.Fatal(err)
	}
}

var errBad = &Error{"bad value"}
