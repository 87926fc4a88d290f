// Package fbtftp is the public API of fbtftp-go, a dynamic TFTP server
// framework: write a Handler that turns a Request into ResponseData (or an
// Error with a TFTP code), and run it in a worker process with ServeWorker.
//
// fbtftp-master reads requests and hands each session, with its own UDP
// socket, to a worker it starts (the stock fbtftp-worker, or yours, given
// with --worker). ServeWorker does everything else: the handshake with the
// master, the sandbox (chroot, unprivileged user, no_new_privs) before any
// request is read, option negotiation (RFC 2347, 2348, 2349, 7440 and
// tftpd-hpa's extensions), the transfer with retransmissions, and the
// session's statistics back to the master.
//
// A minimal worker:
//
//	func main() {
//		h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
//			return fbtftp.BytesResponse([]byte("hello\n")), nil
//		})
//		if err := fbtftp.ServeWorker(context.Background(), h, fbtftp.WorkerConfig{}); err != nil {
//			os.Exit(1)
//		}
//	}
package fbtftp
