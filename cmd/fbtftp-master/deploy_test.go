package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestSystemdUnits: the shipped units name options the master accepts,
// socket activation included, and keep the drain working (KillMode=mixed:
// SIGTERM reaches the master alone).
func TestSystemdUnits(t *testing.T) {
	keys := map[string]string{}
	f, err := os.Open("../../deploy/systemd/fbtftp.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = v
		}
	}
	argv := strings.Fields(keys["ExecStart"])
	if len(argv) < 2 || !strings.HasSuffix(argv[0], "fbtftp-master") {
		t.Fatalf("ExecStart %q", keys["ExecStart"])
	}
	o, err := parseArgs(argv[1:])
	if err != nil {
		t.Fatalf("ExecStart: %v", err)
	}
	if !o.systemd || !o.secure || o.user != "tftp" {
		t.Errorf("ExecStart does not use socket activation, -s and -u tftp: %+v", o)
	}
	if keys["KillMode"] != "mixed" {
		t.Errorf("KillMode=%q: workers would get SIGTERM with the master and sessions would not drain", keys["KillMode"])
	}
	sock, err := os.ReadFile("../../deploy/systemd/fbtftp.socket")
	if err != nil || !strings.Contains(string(sock), "ListenDatagram=69") {
		t.Errorf("fbtftp.socket: %v", err)
	}
}
