package tftp_test

import (
	"fmt"
	"os"
	"syscall"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// A Handler chooses the ERROR a client gets with a *tftp.Error; other
// errors map to codes through WireError, and their text never reaches the
// client.
func ExampleWireError() {
	for _, err := range []error{
		&tftp.Error{Code: tftp.CodeAccessViolation, Message: "not for you"},
		tftp.ErrNotFound,
		os.ErrNotExist,
		&os.PathError{Op: "write", Path: "/srv/tftp/up.bin", Err: syscall.ENOSPC},
		fmt.Errorf("database password is hunter2"),
	} {
		code, msg := tftp.WireError(err)
		fmt.Printf("%d %q\n", code, msg)
	}
	// Output:
	// 2 "not for you"
	// 1 "File not found"
	// 1 "File not found"
	// 3 "Disk full or allocation exceeded"
	// 0 "server error"
}
