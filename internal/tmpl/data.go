package tmpl

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Data is what a template sees as its dot.
type Data struct {
	// ClientIP is the client's address, IPv4 in dotted form
	// ("192.168.0.1"), IPv6 in RFC 5952 form.
	ClientIP string
	// ClientIPHex is the client's IPv4 address as 8 upper-case hex
	// digits, as pxelinux names its configs ("C0A80001"); empty for IPv6.
	ClientIPHex string
	// MAC is the client's hardware address, "aa:bb:cc:dd:ee:ff", or ""
	// when unknown (TFTP does not carry it; see MACFromPxelinux).
	MAC string
	// MACPxe is the MAC as pxelinux names its configs,
	// "01-aa-bb-cc-dd-ee-ff" (01 is the ARP type of Ethernet), or "".
	MACPxe string
	// Filename is the name the client asked for.
	Filename string
	// LocalIP is the server address the client talked to.
	LocalIP string
	// Hostname is the server's host name.
	Hostname string
	// Values are the client's values from the data file (see
	// LoadValues); nil when there are none. A missing key is an error
	// when read as .Values.key; use index, get or has to probe.
	Values map[string]any
}

// NewData fills a Data: the address fields from client and local, the MAC
// fields from mac (any form net.ParseMAC accepts for a 6-byte address;
// anything else leaves them empty).
func NewData(client, local netip.Addr, mac, filename, hostname string, values map[string]any) Data {
	d := Data{Filename: filename, Hostname: hostname, Values: values}
	if client.IsValid() {
		client = client.Unmap()
		d.ClientIP = client.String()
		if client.Is4() {
			d.ClientIPHex = IPHex(client)
		}
	}
	if local.IsValid() {
		d.LocalIP = local.Unmap().String()
	}
	if hw, ok := parseMAC(mac); ok {
		d.MAC = hw.String()
		d.MACPxe = pxeMAC(hw)
	}
	return d
}

// IPHex returns addr as upper-case hex digits, 8 for IPv4 (pxelinux's
// "C0A80001" for 192.168.0.1), 32 for IPv6.
func IPHex(addr netip.Addr) string {
	b := addr.Unmap().AsSlice()
	return strings.ToUpper(hex.EncodeToString(b))
}

// parseMAC parses a 6-byte hardware address in any form net.ParseMAC
// accepts ("aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff").
func parseMAC(s string) (net.HardwareAddr, bool) {
	if s == "" {
		return nil, false
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return nil, false
	}
	return hw, true
}

// normalMAC returns s as "aa:bb:cc:dd:ee:ff", or an error.
func normalMAC(s string) (string, error) {
	hw, ok := parseMAC(s)
	if !ok {
		return "", fmt.Errorf("%q is not a 6-byte MAC address", s)
	}
	return hw.String(), nil
}

// pxeMAC returns "01-aa-bb-cc-dd-ee-ff".
func pxeMAC(hw net.HardwareAddr) string {
	return "01-" + strings.ReplaceAll(hw.String(), ":", "-")
}
