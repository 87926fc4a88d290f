//go:build !linux

package content

import (
	"errors"
	"os"
)

// Uploads need the Linux *at system calls and flock; elsewhere every
// upload fails (the stock worker only runs on Linux).

type dirFD struct{ *os.File }

var errNoUploads = errors.New("uploads are only supported on Linux")

func (s *FileStore) openDir(string) (dirFD, error)         { return dirFD{}, errNoUploads }
func (d dirFD) lstat(string) (fileStat, error)             { return fileStat{}, errNoUploads }
func (d dirFD) open(string, int, uint32) (*os.File, error) { return nil, errNoUploads }
func (d dirFD) rename(string, string) error                { return errNoUploads }
func (d dirFD) remove(string) error                        { return errNoUploads }
func (d dirFD) checkSticky(fileStat) error                 { return errNoUploads }
func fstat(*os.File) (fileStat, error)                     { return fileStat{}, errNoUploads }
func tryLock(*os.File) (bool, error)                       { return false, errNoUploads }
