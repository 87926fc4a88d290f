package origin

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
)

// maxTempTries bounds the random names createTemp tries.
const maxTempTries = 100

// OpenDir creates Dir (mode 0700, with any missing parents) when it is
// missing and opens it. From then on the Cache uses the directory through
// that descriptor, naming only its entries, so what later happens to the
// path does not matter: a worker calls OpenDir once before it chroots and
// drops its privileges, and the cache may then lie outside the chroot
// (say /var/cache/fbtftp), out of the TFTP clients' reach. The directory
// must stay writable by the user the worker then runs as.
//
// OpenDir may be called again: once it has succeeded, it does nothing.
// When it is never called, the first Open of a Client using the Cache
// calls it, and after a failure the next Open tries again.
func (ca *Cache) OpenDir() error {
	_, err := ca.dir()
	return err
}

// Close closes the directory opened by OpenDir. Call it after Client.Wait,
// when no Open is running: Opens that use the Cache afterwards fail, and a
// fill still running could not publish its object. Close may be called
// more than once, and before OpenDir.
func (ca *Cache) Close() error {
	ca.dirMu.Lock()
	defer ca.dirMu.Unlock()
	if ca.closed {
		return nil
	}
	ca.closed = true
	if ca.root == nil {
		return nil
	}
	return ca.root.Close()
}

// dir returns the opened directory, opening it first when needed.
func (ca *Cache) dir() (*os.Root, error) {
	ca.dirMu.Lock()
	defer ca.dirMu.Unlock()
	switch {
	case ca.closed:
		return nil, fmt.Errorf("cache %s: %w", ca.Dir, os.ErrClosed)
	case ca.root != nil:
		return ca.root, nil
	case ca.Dir == "":
		return nil, errors.New("cache: no Dir")
	}
	if err := os.MkdirAll(ca.Dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(ca.Dir)
	if err != nil {
		return nil, err
	}
	ca.root = root
	return root, nil
}

// createTemp creates a new file <prefix><random><suffix> in root, mode
// 0600, open for reading and writing, and returns it with its name. It is
// os.CreateTemp for an *os.Root: O_EXCL makes the name ours, a name taken
// already means another try.
func createTemp(root *os.Root, prefix, suffix string) (*os.File, string, error) {
	for range maxTempTries {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36) + suffix
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
	return nil, "", &os.PathError{Op: "createtemp", Path: prefix + "*" + suffix, Err: fs.ErrExist}
}

// readDir lists the directory of root.
func readDir(root *os.Root) ([]os.DirEntry, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}
