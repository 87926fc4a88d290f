// Package content is the file system side of the stock file server
// (package fileserver): names resolved and files opened without escaping
// the served directory (Resolve, Clean, FileStore.Open: openat2
// RESOLVE_IN_ROOT, os.Root as a fallback, tftpd-hpa's world-readable
// rule), and uploads written to a locked temporary file that is fsynced
// and renamed over the target (FileStore.Upload), with the master's
// cleanup of a crashed upload's temporary file (RemoveStaleUpload). Remap
// rules live in package remap, templates in package tmpl and HTTP origins
// in package origin.
package content
