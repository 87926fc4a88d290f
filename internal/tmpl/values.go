package tmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
)

// MaxValuesSize bounds a data file.
const MaxValuesSize = 16 << 20

// Store holds the per-client values of a data file. The zero Store has no
// values. A Store is read-only and safe for concurrent use.
type Store struct {
	def   map[string]any
	hosts map[string]map[string]any // by normalised IP or MAC
}

// valuesFile is the data file's shape.
type valuesFile struct {
	Default map[string]any            `json:"default"`
	Hosts   map[string]map[string]any `json:"hosts"`
}

// LoadValues reads a data file: one JSON object with two optional members,
// "default" (an object) and "hosts" (an object of objects keyed by client
// IP address or MAC address):
//
//	{
//	  "default": {"console": "ttyS0,115200", "role": "generic"},
//	  "hosts": {
//	    "10.0.0.5":          {"role": "db", "disks": ["sda", "sdb"]},
//	    "2001:db8::5":       {"role": "db"},
//	    "aa:bb:cc:dd:ee:ff": {"role": "web", "vlan": 42}
//	  }
//	}
//
// IP keys are any form netip.ParseAddr accepts (IPv4-mapped IPv6 is taken
// as IPv4); MAC keys are 6-byte addresses in any form net.ParseMAC accepts
// and any case. Two keys naming the same client, an invalid key, a member
// other than these two, trailing data or a file over MaxValuesSize are
// errors. Numbers keep their JSON text (json.Number), so 1000000 prints as
// written. An empty path gives an empty Store.
func LoadValues(path string) (Store, error) {
	if path == "" {
		return Store{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Store{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxValuesSize+1))
	if err != nil {
		return Store{}, err
	}
	s, err := ParseValues(b)
	if err != nil {
		return Store{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseValues parses the contents of a data file (see LoadValues).
func ParseValues(b []byte) (Store, error) {
	if len(b) > MaxValuesSize {
		return Store{}, fmt.Errorf("data file larger than %d bytes", MaxValuesSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var vf valuesFile
	if err := dec.Decode(&vf); err != nil {
		return Store{}, fmt.Errorf("data file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Store{}, errors.New("data file: data after the object")
	}
	s := Store{def: vf.Default}
	if len(vf.Hosts) > 0 {
		s.hosts = make(map[string]map[string]any, len(vf.Hosts))
	}
	for key, v := range vf.Hosts {
		k, err := hostKey(key)
		if err != nil {
			return Store{}, fmt.Errorf("data file: hosts: %w", err)
		}
		if _, dup := s.hosts[k]; dup {
			return Store{}, fmt.Errorf("data file: hosts: %q names a client twice", key)
		}
		if v == nil {
			v = map[string]any{}
		}
		s.hosts[k] = v
	}
	return s, nil
}

// hostKey normalises a hosts key: an IP address (unmapped) or a MAC
// address (lower case, colons).
func hostKey(key string) (string, error) {
	if a, err := netip.ParseAddr(key); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("%q: a zone is not allowed", key)
		}
		return a.Unmap().String(), nil
	}
	mac, err := normalMAC(key)
	if err != nil {
		return "", fmt.Errorf("%q is neither an IP address nor a MAC address", key)
	}
	return mac, nil
}

// Lookup returns the values for a client: the "default" object, overlaid
// key by key with the object of its IP address, overlaid with the object
// of its MAC address; so a key is looked up by MAC first, then IP, then
// default. mac and ip may be empty or in any accepted form. The result is
// a new map (nil when nothing applies); nested values are shared.
func (s Store) Lookup(mac, ip string) map[string]any {
	var out map[string]any
	add := func(m map[string]any) {
		if m == nil {
			return
		}
		if out == nil {
			out = make(map[string]any, len(s.def)+len(m))
		}
		maps.Copy(out, m)
	}
	add(s.def)
	if a, err := netip.ParseAddr(ip); err == nil {
		add(s.hosts[a.Unmap().String()])
	}
	if m, err := normalMAC(mac); err == nil {
		add(s.hosts[m])
	}
	return out
}

// Len returns the number of hosts.
func (s Store) Len() int { return len(s.hosts) }
