package fbtftp

import (
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/transfer"
)

func TestSettingsFromWireFlags(t *testing.T) {
	s := settingsFromWire(&ipc.Settings{Flags: ipc.FlagFixedRetransmit | ipc.FlagSecure})
	if !s.FixedRetransmit || !s.Secure || s.Permissive || s.Create || s.ReadOnly {
		t.Errorf("settings %+v", s)
	}
	if retransmitPolicy(s) != transfer.RetransmitFixed || retransmitPolicy(&Settings{}) != transfer.RetransmitAdaptive {
		t.Error("retransmitPolicy does not follow FixedRetransmit")
	}
}
