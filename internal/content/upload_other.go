//go:build !unix

package content

import (
	"io/fs"
	"os"
)

// tryLock cannot lock without flock: every upload proceeds (the stock
// worker only runs on Linux).
func tryLock(*os.File) (bool, error) { return true, nil }

func checkSticky(*os.Root, fs.FileInfo) error { return nil }
