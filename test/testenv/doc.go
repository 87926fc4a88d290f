// Package testenv is the support library of the end-to-end tests: it finds
// and starts tftpd-hpa's in.tftpd (the reference server fbtftp replaces) and
// drives the real TFTP clients curl, tftp-hpa, atftp and busybox, so that the
// same transfer can be checked against in.tftpd and against fbtftp.
//
// Everything runs on loopback (127.0.0.1, ::1) on ports chosen by the kernel.
// A missing prerequisite (a client, in.tftpd, root) skips the test with a
// message, or fails it when CI=true ([Require]).
//
// # in.tftpd
//
// [InTftpd] finds the binary: $FBTFTP_INTFTPD, else
// <repo>/.cache/tftpd-hpa/usr/sbin/in.tftpd, else it runs
// scripts/get-tftpd-hpa.sh once, which unpacks Debian 12's tftpd-hpa 5.2
// package there with apt-get download + dpkg -x (installing the package would
// start a daemon). in.tftpd links against libwrap.so.0; when the system lacks
// it the script unpacks libwrap0 next to the binary and [InTftpdCommand] sets
// LD_LIBRARY_PATH, so start in.tftpd through that function.
//
// [StartInTftpd] runs "in.tftpd -L -a 127.0.0.1:PORT args..." in its own
// process group, polls with a probe RRQ until any reply arrives (bounded),
// retries on a fresh port if in.tftpd exits at startup (port taken: exit 71),
// and kills the group, forked transfer children included, in t.Cleanup.
//
// Privileges: in.tftpd is left to drop to its default user nobody, as in
// production (Debian uses --user tftp), rather than forcing -u root, so the
// "world-readable file" rules and upload permissions are the real ones. That
// needs root: without it in.tftpd's per-request children exit without
// answering, so StartInTftpd skips (fails under CI) when not root. [Root]
// makes a served directory nobody can use: files 0644, subdirectories 0755,
// the root 0777 (in.tftpd -c creates uploads as nobody), and t.TempDir's
// 0700 per-test parent 0755, so it also works without -s (absolute file
// names); tests normally pass "-s", root.
//
// # Clients
//
// Each wrapper ([Curl], [TftpHPA], [Atftp], [Busybox] and the ...Upload
// variants, listed by [Clients]) runs the client once with a context
// deadline ([DefaultClientTimeout] when the context has none), returns the
// bytes the client wrote (downloads) and an error that includes the command
// line, stdout and stderr. An option the client cannot send returns an error
// wrapping [ErrUnsupported]. What each client (Debian 12 versions) puts on
// the wire, verified by capturing its request in testenv_test.go:
//
//	client          blksize           tsize             windowsize  netascii          IPv6  no options  upload
//	curl 7.88.1     8..65464          always (*)        no          wire form (**)    yes   yes         yes (-T)
//	tftp-hpa 5.2    no                no                no          yes, converted    yes   always      yes
//	atftp 0.8.0     any value         yes ("tsize 0")   any value   interactive only  yes   default     yes
//	busybox 1.35.0  24..65564 (***)   always on reads   no          no                yes   no          yes
//
//	(*)   curl sends "tsize 0, blksize 512, timeout 6" on every RRQ (tsize =
//	      file size on a WRQ) unless --tftp-no-options (NoOptions), which
//	      drops them all: it cannot send blksize without tsize.
//	(**)  curl selects netascii with ";mode=netascii" in the URL but does not
//	      convert: it returns (and uploads) the bytes as they are on the wire.
//	(***) busybox omits blksize when -b is 512 and sends 65465..65564 as is.
//
// Quirks found against in.tftpd 5.2 (the tests pin them):
//
//   - in.tftpd 5.2 supports no windowsize: it leaves it out of the OACK and
//     atftp falls back to lockstep. Windowed transfers can only be tested
//     against fbtftp.
//   - in.tftpd 5.2 truncates a finished upload when a late duplicate WRQ for
//     the same file arrives: the new child gets the file lock the first one
//     released and ftruncate()s the file to 0 bytes, then waits for DATA that
//     never comes; the client has already reported success. busybox
//     retransmits its WRQ after 100 ms, so a loaded machine hits this; the
//     upload tests retry when an upload ends up empty. (fbtftp's temp file +
//     rename design does not have this problem.)
//   - in.tftpd 5.2 refuses tsize in netascii mode (ERROR 8 "Unsupported
//     option(s) requested"), so curl, which always sends tsize, needs
//     NoOptions for netascii; curl then exits 42.
//   - curl rejects an OACK with "tsize 0" ("invalid tsize -:0:- value in OACK
//     packet", exit 71): it cannot download an empty file unless NoOptions.
//     Its final error line is a bogus "getpeername() failed with errno 107";
//     the wrapper runs curl -v so the real reason is in the error text.
//   - tftp-hpa exits 0 when the server answers with an ERROR packet (it
//     prints "Error code N: message" on stdout and leaves an empty local
//     file) and 69 after "Transfer timed out." (25 s); the wrapper treats any
//     output as failure. Its default mode is netascii, so the wrapper always
//     passes -m; it also passes -l so that ':' in a file name is literal.
//   - atftp's man page spells the option "tsize enable", and atftp 0.8.0 then
//     sends the literal value "enable" in an RRQ, which in.tftpd ignores (no
//     tsize in the OACK); the wrapper sends "tsize 0". atftp prints option
//     settings, errors and traces on stderr, exits 255 on errors and leaves
//     an empty local file. Batch mode has no transfer mode option; netascii
//     goes through the interactive interpreter on stdin, which exits 0 on
//     errors (the wrapper reads stderr) and cannot take file names with white
//     space. It gives up after about 30 s without an answer.
//   - busybox always sends "tsize 0" on reads and the size on writes, rejects
//     -b below 24 or above 65564 locally ("bad blocksize"), refuses a request
//     that does not fit in a block ("remote filename is too long", e.g. -b 24
//     with a 3-byte name), deletes the local file after an error, draws a
//     progress bar on stderr, and gives up after about 13 s.
//   - Without an answer curl keeps retrying for minutes; the context
//     deadline ends it.
//   - atftp 0.8.0 aborts ("tftp: unexpected OACK", exit 255) when an OACK
//     comes again after it sent ACK 0: a server that did not get that ACK
//     must resend its OACK (in.tftpd does too), so over a lossy link atftp
//     fails whenever ACK 0 is lost; the loss tests retry it.
//   - Under a context from [WithNetns] the wrappers run the client in a
//     network namespace (ip netns exec), for the loss tests
//     (internal/lossnet).
//   - All four clients accept IPv6 hosts: "::1" as a separate argument
//     (tftp-hpa gets -6), "tftp://[::1]:PORT/" for curl (run with --globoff).
package testenv
