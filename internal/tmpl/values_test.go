package tmpl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, in string
		err      string // "" when valid
	}{
		{"empty object", `{}`, ""},
		{"only default", `{"default": {"a": 1}}`, ""},
		{"ipv6 and mapped", `{"hosts": {"2001:db8::1": {}, "::ffff:10.0.0.1": {}}}`, ""},
		{"mac forms", `{"hosts": {"AA:BB:CC:DD:EE:01": {}, "aa-bb-cc-dd-ee-02": {}, "aabb.ccdd.ee03": {}}}`, ""},
		{"null host", `{"hosts": {"10.0.0.1": null}}`, ""},
		{"empty", ``, "EOF"},
		{"not json", `hosts`, "invalid character"},
		{"unknown member", `{"host": {}}`, `unknown field "host"`},
		{"trailing data", `{} {}`, "data after the object"},
		{"bad key", `{"hosts": {"bob": {}}}`, `"bob" is neither`},
		{"long mac", `{"hosts": {"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01": {}}}`, "neither"},
		{"seven bytes", `{"hosts": {"aa:bb:cc:dd:ee:ff:00": {}}}`, "neither"},
		{"zone", `{"hosts": {"fe80::1%eth0": {}}}`, "zone"},
		{"duplicate ip", `{"hosts": {"10.0.0.1": {}, "::ffff:10.0.0.1": {}}}`, "twice"},
		{"duplicate mac", `{"hosts": {"aa:bb:cc:dd:ee:ff": {}, "AA-BB-CC-DD-EE-FF": {}}}`, "twice"},
		{"host not object", `{"hosts": {"10.0.0.1": "x"}}`, "cannot unmarshal"},
		{"default not object", `{"default": []}`, "cannot unmarshal"},
		{"too large", `{"default": {"a": "` + strings.Repeat("x", MaxValuesSize) + `"}}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseValues([]byte(tt.in))
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	s, err := ParseValues([]byte(`{
		"default": {"role": "generic", "console": "tty0", "n": 1000000},
		"hosts": {
			"10.0.0.5": {"role": "db", "rack": "r1"},
			"::ffff:10.0.0.6": {"role": "ipv4-mapped"},
			"2001:db8::7": {"role": "v6"},
			"AA:BB:CC:DD:EE:FF": {"role": "web"}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d", s.Len())
	}
	def := map[string]any{"role": "generic", "console": "tty0", "n": json.Number("1000000")}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range def {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, mac, ip string
		want          map[string]any
	}{
		{"default", "", "10.0.0.9", def},
		{"by ip", "", "10.0.0.5", with("role", "db", "rack", "r1")},
		{"mapped key", "", "10.0.0.6", with("role", "ipv4-mapped")},
		{"mapped client", "", "::ffff:10.0.0.5", with("role", "db", "rack", "r1")},
		{"v6", "", "2001:db8::7", with("role", "v6")},
		{"mac wins over ip", "aa-bb-cc-dd-ee-ff", "10.0.0.5", with("role", "web", "rack", "r1")},
		{"bad inputs", "nope", "nope", def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Lookup(tt.mac, tt.ip); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%q, %q) = %v, want %v", tt.mac, tt.ip, got, tt.want)
			}
		})
	}
	if got := (Store{}).Lookup("aa:bb:cc:dd:ee:ff", "10.0.0.1"); got != nil {
		t.Errorf("empty store gave %v", got)
	}
	// The result is a copy.
	s.Lookup("", "10.0.0.5")["role"] = "changed"
	if s.Lookup("", "10.0.0.5")["role"] != "db" {
		t.Error("Lookup returned the store's own map")
	}
}

func TestLoadValues(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"default": {"a": "b"}}`), 0o600)
	os.WriteFile(bad, []byte(`{"hosts": {"x": {}}}`), 0o600)
	if s, err := LoadValues(good); err != nil || s.Lookup("", "")["a"] != "b" {
		t.Errorf("good: %v, %v", s, err)
	}
	if _, err := LoadValues(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("bad: %v, want an error naming the file", err)
	}
	if _, err := LoadValues(filepath.Join(dir, "missing.json")); !os.IsNotExist(err) {
		t.Errorf("missing: %v", err)
	}
	if s, err := LoadValues(""); err != nil || s.Len() != 0 {
		t.Errorf("no file: %v, %v", s, err)
	}
}

// FuzzLoadValues checks the data file parser never panics and that what
// it accepts looks up consistently.
func FuzzLoadValues(f *testing.F) {
	f.Add([]byte(dataFile))
	f.Add([]byte(`{"hosts": {"10.0.0.1": {"a": [1, {"b": null}]}, "aa:bb:cc:dd:ee:ff": null}}`))
	f.Add([]byte(`{"default": {}, "hosts": {}}`))
	f.Add([]byte(`{"hosts": {"::ffff:1.2.3.4": {}, "1.2.3.4": {}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseValues(b)
		if err != nil {
			return
		}
		for k := range s.hosts {
			k2, err := hostKey(k)
			if err != nil || k2 != k {
				t.Fatalf("stored key %q does not normalise to itself (%q, %v)", k, k2, err)
			}
			var got map[string]any
			if strings.Contains(k, ":") && len(k) == 17 && !strings.Contains(k, "::") {
				got = s.Lookup(k, "")
			} else {
				got = s.Lookup("", k)
			}
			for key, v := range s.hosts[k] {
				if !reflect.DeepEqual(got[key], v) {
					t.Fatalf("Lookup(%q)[%q] = %v, want %v", k, key, got[key], v)
				}
			}
		}
	})
}
