// Command fbtftp-worker-http is the stock worker with HTTP origins: files
// and templates as fbtftp-worker, plus downloads streamed (and optionally
// cached) from HTTP(S) origins, see package httporigin. fbtftp-master runs
// it instead of fbtftp-worker when --http-origin or --http-cache is set or
// the map file routes names to URLs. It is a separate binary because
// net/http and crypto/tls make every worker start about 3 ms slower.
package main

import (
	"os"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/httporigin"
	"github.com/fbtftp-go/fbtftp/internal/workermain"
)

func main() {
	workermain.Run("fbtftp-worker-http", func(w *fbtftp.Worker) (fbtftp.Handler, error) {
		files, err := workermain.FileServer(w)
		if err != nil {
			return nil, err
		}
		h, err := httporigin.FromEnv(files, os.Getenv)
		if err != nil {
			return nil, err
		}
		// Map rules may route names to these prefixes, and only to them.
		if err := h.Allow(w.RoutePrefixes()...); err != nil {
			return nil, err
		}
		return h, nil
	})
}
