package fbtftp

import "github.com/fbtftp-go/fbtftp/internal/stats"

// Outcome classifies how a session ended: "success", "probe" (the UEFI size
// probe), "not_found", "access_denied", "bad_options", "client_error",
// "timeout", "worker_crash", "server_error" or "shutdown".
type Outcome = stats.Outcome
