package master_test

import (
	"errors"
	"net/netip"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// TestRefusalsLogged: busy, unknown-mode and uploads-off refusals leave a
// log line naming the peer, the file and the reason; a flood of them
// leaves a few.
func TestRefusalsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	e := start(t, func(c *master.Config) {
		c.MaxWorkers, c.BusyError = 1, true
		c.Logger = zap.New(core)
	})
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
	waitFor(t, "session in flight", func() bool { return e.m.Counters().Accepted == 1 })

	_, _, err = get(t, e.addr, "one", client.Options{Retries: -1})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Message != "server busy" {
		t.Fatalf("%v", err)
	}
	flood, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	for range 50 {
		flood.SendRequest(proto.OpRRQ, "one", "mail", nil)
	}
	flood.SendRequest(proto.OpWRQ, "up", "octet", nil)
	waitFor(t, "refusals counted", func() bool { return e.m.Counters().Rejected == 51 })

	byReason := map[string]int{}
	for _, l := range logs.FilterMessage("request refused").All() {
		f := l.ContextMap()
		byReason[f["reason"].(string)]++
		if f["peer"] == "" || f["file"] == nil {
			t.Errorf("line without peer or file: %v", f)
		}
		if f["reason"] == "unknown_mode" && (f["mode"] != "mail" || f["file"] != "one") {
			t.Errorf("unknown mode line: %v", f)
		}
	}
	if byReason["busy"] != 1 || byReason["unknown_mode"] != 5 || byReason["uploads_off"] != 1 {
		t.Errorf("refusal lines by reason %v, want busy 1, unknown_mode 5 (of 50), uploads_off 1", byReason)
	}
}
