package main

import (
	"os"
	"path/filepath"
)

// workerDir is where `make install` puts the workers (LIBEXECDIR/fbtftp),
// set with -ldflags "-X main.workerDir=..."; "" in a plain go build.
var workerDir string

// findWorker returns the first existing worker binary called name among,
// in order: the directory of the real master binary (a build tree, or a
// link /usr/sbin/in.tftpd -> /opt/fbtftp/fbtftp-master), ../libexec/fbtftp
// beside it (make install with any PREFIX: /usr/sbin and
// /usr/libexec/fbtftp), and the workerDir the build was configured with.
// When none exists it returns the first candidate, for the error message.
func findWorker(exeDir, name string) string {
	cands := []string{
		filepath.Join(exeDir, name),
		filepath.Join(exeDir, "..", "libexec", "fbtftp", name),
	}
	if workerDir != "" {
		cands = append(cands, filepath.Join(workerDir, name))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Clean(c)
		}
	}
	return cands[0]
}
