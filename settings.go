package fbtftp

import (
	"io/fs"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
)

// Settings is the master's configuration for a session, as a Handler sees
// it in Request.Settings: fbtftp-master's flags, or server.Server's
// Settings. A handler reads it and never changes it. Fields a handler does
// not understand it may ignore: the stock file server (package fileserver)
// follows all of them, a custom handler decides what they mean for its
// content.
//
// The zero value is in.tftpd's defaults: no root, uploads only to existing
// world-writable files, the worker's transfer defaults.
type Settings struct {
	// Roots are the directories files are served from, as the worker sees
	// them: with Secure and a master running as root the worker is
	// chrooted into the served directory and Roots is ["/"]; otherwise the
	// directories as given to the master.
	Roots []string
	// Secure is in.tftpd's -s: the one root is the served directory and
	// names are relative to it ("/pxelinux.0" and "pxelinux.0" are the
	// same file). Without it, a name must be an absolute path beneath one
	// of Roots.
	Secure bool
	// Permissive is in.tftpd's -p: no world-readable check on downloads
	// and no world-writable check on uploads; the worker's user's
	// permissions alone decide.
	Permissive bool
	// Create is in.tftpd's -c: an upload may create a file that does not
	// exist yet.
	Create bool
	// ReadOnly refuses every upload (ERROR 2 "Uploads are not enabled"),
	// before the handler is asked.
	ReadOnly bool
	// Umask is in.tftpd's -U: the permission bits cleared from the mode
	// 0666 of files uploads create.
	Umask fs.FileMode
	// MaxUpload is the largest upload accepted, in bytes (ERROR 3 beyond
	// it); 0 means no limit.
	MaxUpload int64

	// Timeout is in.tftpd's -T: the retransmission timeout of the fixed
	// policy, the longest first wait of the adaptive one; a client's
	// timeout or utimeout option replaces it. 0: one second.
	Timeout time.Duration
	// Retries is how many times a packet is sent again before the session
	// gives up. 0: 5 (1+2+4+8+16+32 timeouts, as in.tftpd gives up at 63
	// times -T).
	Retries int
	// FixedRetransmit is fbtftp-master's --retransmit fixed: in.tftpd's
	// timer (Timeout, doubling per retry) instead of the default adaptive
	// one, which follows the session's measured round trip, never waits
	// longer than the fixed timer and gives up at the same time
	// (docs/protocol.md).
	FixedRetransmit bool
	// MaxBlksize and MaxWindowsize bound what the blksize (in.tftpd -B)
	// and windowsize options may negotiate; 0: the protocol's maximum
	// and 64.
	MaxBlksize    int
	MaxWindowsize int
	// Refuse names options that are never acknowledged (in.tftpd -r),
	// lower case.
	Refuse []string
	// SessionDeadline bounds a session's wall time; the handler's context
	// ends then. 0: 30 minutes.
	SessionDeadline time.Duration

	// Verbosity is in.tftpd's -v count: 1 and more log requests and
	// packets at debug level. LogFormat is "json", "console" or empty (the
	// worker's default).
	Verbosity int
	LogFormat string

	// Extra holds free-form values for custom workers (fbtftp-master
	// --set KEY=VALUE); Request.Extra is the same map.
	Extra map[string]string
}

// settingsFromWire is the Settings a Handoff carries.
func settingsFromWire(s *ipc.Settings) *Settings {
	return &Settings{
		Roots:           s.Roots,
		Secure:          s.Flags&ipc.FlagSecure != 0,
		Permissive:      s.Flags&ipc.FlagPermissive != 0,
		Create:          s.Flags&ipc.FlagCreate != 0,
		ReadOnly:        s.Flags&ipc.FlagReadOnly != 0,
		Umask:           fs.FileMode(s.Umask) & fs.ModePerm,
		MaxUpload:       s.MaxUpload,
		Timeout:         s.Timeout,
		Retries:         s.Retries,
		FixedRetransmit: s.Flags&ipc.FlagFixedRetransmit != 0,
		MaxBlksize:      s.MaxBlksize,
		MaxWindowsize:   s.MaxWindowsize,
		Refuse:          s.Refuse,
		SessionDeadline: s.SessionDeadline,
		Verbosity:       s.Verbosity,
		LogFormat:       s.LogFormat,
		Extra:           s.Extra,
	}
}
