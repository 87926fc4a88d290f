package tmpl_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/fbtftp-go/fbtftp/internal/tmpl"
)

// The example of the package documentation, rendered for two clients.
func ExampleRender() {
	values, err := tmpl.ParseValues([]byte(`{"default": {"role": "generic"},
 "hosts": {"10.0.0.5": {"role": "db", "disks": ["sda", "sdb"]}}}`))
	if err != nil {
		panic(err)
	}
	src := []byte(`# {{.Filename}} for {{.ClientIP}} ({{.ClientIPHex}})
LABEL linux
  KERNEL vmlinuz
  APPEND role={{.Values.role}} disks={{get .Values "disks" | join ","}}
`)
	for _, ip := range []string{"10.0.0.5", "10.0.0.6"} {
		d := tmpl.NewData(netip.MustParseAddr(ip), netip.MustParseAddr("10.0.0.1"), "", "pxelinux.cfg/default", "boot",
			values.Lookup("", ip))
		out, err := tmpl.Render(context.Background(), "default.tmpl", src, d, 0)
		if err != nil {
			panic(err)
		}
		fmt.Println(strings.Split(string(out), "\n")[3])
	}
	// Output:
	//   APPEND role=db disks=sda,sdb
	//   APPEND role=generic disks=
}
