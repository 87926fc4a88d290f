// Command fbtftp-worker is the stock worker: fbtftp-master starts one per
// session (or keeps a few ready with --prefork). It serves files and
// templates from the root the master configures, confined to it. Run by
// hand, it explains that it must be started by the master and exits with
// status 2. fbtftp-worker-http adds HTTP origins; this one stays small
// because it starts once per session.
package main

import (
	"github.com/fbtftp-go/fbtftp/internal/workermain"
)

func main() {
	workermain.Run("fbtftp-worker", workermain.FileServer)
}
