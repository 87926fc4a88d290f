package server

import (
	"net/netip"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/master"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

func TestMTUBlocksize(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	ls, err := udp.Listen(udp.ListenSpec{Addrs: []netip.Addr{lo}}, udp.AnyFamily)
	if err != nil {
		t.Fatal(err)
	}
	defer closeListeners(ls)
	mtu, err := udp.InterfaceMTU(lo)
	if err != nil {
		t.Fatal(err)
	}
	for _, slack := range []int{0, 100, 70000} {
		got, err := mtuBlocksize(ls, slack)
		if err != nil {
			t.Fatal(err)
		}
		want := min(max(mtu-20-8-4-slack, 512), 65464)
		if got != want {
			t.Errorf("mtu %d slack %d: blocksize %d, want %d", mtu, slack, got, want)
		}
	}
}

func TestCheckFamily(t *testing.T) {
	v6, _ := udp.ParseListenAddress("[::1]:69", "")
	v4, _ := udp.ParseListenAddress("127.0.0.1:69", "")
	if err := checkFamily("[::1]:69", v6, udp.IPv4Only); err == nil || KindOf(err) != KindUsage ||
		err.Error() != "Address [::1]:69 is not in address family AF_INET" {
		t.Errorf("-4 with ::1: %v", err)
	}
	if err := checkFamily("127.0.0.1:69", v4, udp.IPv6Only); err == nil {
		t.Error("-6 with 127.0.0.1 accepted")
	}
	if err := checkFamily("127.0.0.1:69", v4, udp.IPv4Only); err != nil {
		t.Error(err)
	}
}

func TestWireSettingsFlags(t *testing.T) {
	for _, c := range []struct {
		set  fbtftp.Settings
		flag uint32
	}{
		{fbtftp.Settings{Permissive: true}, ipc.FlagPermissive},
		{fbtftp.Settings{Create: true}, ipc.FlagCreate},
		{fbtftp.Settings{ReadOnly: true}, ipc.FlagReadOnly},
		{fbtftp.Settings{Secure: true}, ipc.FlagSecure},
		{fbtftp.Settings{FixedRetransmit: true}, ipc.FlagFixedRetransmit},
		{fbtftp.Settings{}, 0},
	} {
		if got := wireSettings(&c.set).Flags; got != c.flag {
			t.Errorf("%+v: flags %#x, want %#x", c.set, got, c.flag)
		}
	}
}

func TestWorkerMemoryLimit(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{0, master.DefaultWorkerMemoryLimit},
		{-1, 0},
		{512 << 20, 512 << 20},
	} {
		if got := workerMemoryLimit(c.in); got != c.want {
			t.Errorf("workerMemoryLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
