// Command grub is a custom worker that writes GRUB's network boot
// configuration in code, per machine, from a small JSON inventory, and
// serves every other file (GRUB's modules, kernels, initrds) from the
// root with the stock file handler.
//
// A GRUB booted from the network looks for its configuration next to its
// prefix (FWPATH, e.g. "boot/grub"), trying in order (grub-core/net/net.c,
// grub_net_search_config_file; GRUB manual, "Booting GRUB from the
// network"):
//
//	FWPATH/grub.cfg-<UUID>               only when DHCP gave one
//	FWPATH/grub.cfg-01-52-54-00-ec-33-81 "01-" (Ethernet) + MAC, lower case
//	FWPATH/grub.cfg-0A000082             IPv4 in upper-case hex, then 0A00008,
//	                                     0A0000, ... down to one digit
//	FWPATH/grub.cfg
//
// and takes the first that exists. This worker answers a per-machine name
// when the inventory knows the machine it names (by MAC, or by the full
// eight-digit IP), and ERROR 1 otherwise, so that GRUB goes on down the
// list, as it would in a directory of files. The plain grub.cfg is always
// answered: the machine is found by the client's MAC (Request.MAC, from
// the kernel's neighbour table) or its address (Request.Peer), and an
// unknown machine gets the inventory's default entry.
//
// The inventory is a JSON file named by $GRUB_INVENTORY:
//
//	{
//	  "default": {"hostname": "unknown", "kernel": "/images/vmlinuz",
//	              "initrd": "/images/initrd.img", "cmdline": "rescue"},
//	  "hosts": {
//	    "52:54:00:ec:33:81": {"hostname": "web-1", "cmdline": "role=web"},
//	    "192.0.2.7":         {"hostname": "db-1", "cmdline": "role=db"}
//	  }
//	}
//
// Hosts are keyed by MAC or IP address; a host's empty kernel and initrd
// are the default's. Workers inherit the master's environment, so set the
// variable for the master:
//
//	CGO_ENABLED=0 go build -o bin/ ./cmd/fbtftp-master ./examples/grub
//	GRUB_INVENTORY=/etc/fbtftp/grub-inventory.json \
//		bin/fbtftp-master -L -a 127.0.0.1:6969 -s /srv/tftp --worker bin/grub
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// envInventory names the inventory file.
const envInventory = "GRUB_INVENTORY"

// machine is one inventory entry: what its boot menu entry runs.
type machine struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	Initrd   string `json:"initrd"`
	Cmdline  string `json:"cmdline"`
}

// inventory is the parsed $GRUB_INVENTORY file, keys normalised.
type inventory struct {
	Default machine
	byMAC   map[string]machine // key: net.HardwareAddr.String(), "52:54:00:ec:33:81"
	byIP    map[netip.Addr]machine
}

// loadInventory reads and checks the inventory. It runs in main, before
// ServeWorker: after the chroot the file is out of reach.
func loadInventory(name string) (*inventory, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Default machine            `json:"default"`
		Hosts   map[string]machine `json:"hosts"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	inv := &inventory{Default: raw.Default, byMAC: map[string]machine{}, byIP: map[netip.Addr]machine{}}
	if inv.Default.Hostname == "" {
		inv.Default.Hostname = "unknown"
	}
	if err := check(inv.Default); err != nil {
		return nil, fmt.Errorf("%s: default: %w", name, err)
	}
	for key, m := range raw.Hosts {
		if m.Kernel == "" {
			m.Kernel = inv.Default.Kernel
		}
		if m.Initrd == "" {
			m.Initrd = inv.Default.Initrd
		}
		if err := check(m); err != nil {
			return nil, fmt.Errorf("%s: host %s: %w", name, key, err)
		}
		if ip, err := netip.ParseAddr(key); err == nil {
			inv.byIP[ip.Unmap()] = m
		} else if mac, err := net.ParseMAC(key); err == nil {
			inv.byMAC[mac.String()] = m
		} else {
			return nil, fmt.Errorf("%s: host key %q is neither an IP nor a MAC address", name, key)
		}
	}
	return inv, nil
}

// check refuses values that would break out of the generated config: the
// inventory is trusted, but a stray quote or newline is better caught at
// start than in a machine's boot menu.
func check(m machine) error {
	if m.Kernel == "" {
		return errors.New("no kernel")
	}
	if m.Hostname == "" || strings.ContainsAny(m.Hostname, " \t") {
		return fmt.Errorf("hostname %q: empty or with blanks", m.Hostname)
	}
	for _, v := range []string{m.Hostname, m.Kernel, m.Initrd, m.Cmdline} {
		if strings.ContainsAny(v, "'\"\n\r\\$;{}") {
			return fmt.Errorf("%q: quotes, newlines and GRUB script characters are not allowed", v)
		}
	}
	return nil
}

// handler answers grub.cfg names from the inventory and everything else
// from the root.
type handler struct {
	inv   *inventory
	files fbtftp.Handler // fileserver.New
}

func (h *handler) ServeTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	name := strings.TrimLeft(r.Path, "/")
	suffix, ok := strings.CutPrefix(path.Base(name), "grub.cfg")
	if !ok || (suffix != "" && suffix[0] != '-') {
		return h.files.ServeTFTP(ctx, r) // kernels, initrds, GRUB modules, grub.cfg.bak
	}
	m, how, found := h.lookup(r, strings.TrimPrefix(suffix, "-"))
	if !found {
		// Not this machine's name: GRUB tries the next one.
		return nil, tftp.ErrNotFound
	}
	r.Logger.Info("grub config generated", "hostname", m.Hostname, "matched_by", how)
	return fbtftp.BytesResponse(render(r, m, how)), nil // size known: tsize acknowledged
}

// lookup finds the machine for one of GRUB's names; id is what follows
// "grub.cfg-" (empty for grub.cfg itself). how says which key matched.
func (h *handler) lookup(r *fbtftp.Request, id string) (m machine, how string, found bool) {
	if id == "" {
		// grub.cfg: the last name GRUB tries, always answered.
		if r.MAC != nil {
			if m, ok := h.inv.byMAC[r.MAC.String()]; ok {
				return m, "mac " + r.MAC.String(), true
			}
		}
		ip := r.Peer.Addr().Unmap()
		if m, ok := h.inv.byIP[ip]; ok {
			return m, "ip " + ip.String(), true
		}
		return h.inv.Default, "default", true
	}
	if s, ok := strings.CutPrefix(id, "01-"); ok {
		// grub.cfg-01-52-54-00-ec-33-81.
		mac, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
		if err != nil {
			return machine{}, "", false
		}
		m, ok := h.inv.byMAC[mac.String()]
		return m, "mac " + mac.String(), ok
	}
	if len(id) == 8 {
		// grub.cfg-C0A80001. The shorter prefixes GRUB tries next would
		// name subnets; this inventory has none, so they are not found.
		n, err := strconv.ParseUint(id, 16, 32)
		if err != nil {
			return machine{}, "", false
		}
		ip := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		m, ok := h.inv.byIP[ip]
		return m, "ip " + ip.String(), ok
	}
	return machine{}, "", false // UUID, IPv6, subnet prefixes
}

// render writes the configuration for m. Paths are on GRUB's root device,
// the TFTP server it booted from.
func render(r *fbtftp.Request, m machine, how string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# generated by fbtftp-go examples/grub for %s (%s), client %s\n",
		m.Hostname, how, r.Peer.Addr())
	io.WriteString(&b, "set default=0\nset timeout=5\n")
	fmt.Fprintf(&b, "menuentry '%s' {\n", m.Hostname)
	fmt.Fprintf(&b, "\tlinux %s\n", strings.TrimSpace(m.Kernel+" hostname="+m.Hostname+" "+m.Cmdline))
	if m.Initrd != "" {
		fmt.Fprintf(&b, "\tinitrd %s\n", m.Initrd)
	}
	io.WriteString(&b, "}\n")
	return b.Bytes()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "grub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	p := os.Getenv(envInventory)
	if p == "" {
		return fmt.Errorf("$%s names no inventory file", envInventory)
	}
	inv, err := loadInventory(p) // before the sandbox: the file lies outside the root
	if err != nil {
		return err
	}
	files, err := fileserver.New(fileserver.Config{})
	if err != nil {
		return err
	}
	h := &handler{inv: inv, files: files}
	return fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{})
}
