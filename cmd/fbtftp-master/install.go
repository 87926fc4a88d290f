package main

// workerDir is where `make install` puts the workers (LIBEXECDIR/fbtftp),
// set with -ldflags "-X main.workerDir=..."; "" in a plain go build.
var workerDir string

// workerDirs are the directories the server looks for its default worker
// in after the master's own and ../libexec/fbtftp beside it.
func workerDirs() []string {
	if workerDir == "" {
		return nil
	}
	return []string{workerDir}
}
