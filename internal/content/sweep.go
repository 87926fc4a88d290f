package content

import (
	"context"
	"errors"
	"io/fs"
	"path"
)

// MaxSweepEntries bounds the directory entries SweepStaleUploads visits in
// one root: a sweep must end, whatever the tree holds.
const MaxSweepEntries = 1 << 20

// SweepStaleUploads removes, under root, the temporary files (TempName)
// that uploads left when their server was killed as a whole, so that no
// worker and no master was left to clean up: each such file, unlocked,
// stays until the same name is uploaded again. A file that an upload holds
// locked (another server sharing the directory) is left alone, as is
// anything under the reserved names that is not a regular file. The walk
// stays inside root (symbolic links are not followed) and stops after
// MaxSweepEntries entries or when ctx ends. It returns the names removed,
// relative to root.
func SweepStaleUploads(ctx context.Context, root string) ([]string, error) {
	s, err := OpenFileStore(root, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var removed []string
	visited := 0
	errStop := errors.New("stop")
	err = fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory: go on with the others
		}
		if visited++; visited > MaxSweepEntries || ctx.Err() != nil {
			return errStop
		}
		if !d.Type().IsRegular() || !isTempName(d.Name()) {
			return nil
		}
		dir, err := s.openDir(path.Dir(p))
		if err != nil {
			return nil
		}
		defer dir.Close()
		for range 4 {
			ok, err := removeStale(dir, d.Name())
			if errors.Is(err, errRetry) {
				continue
			}
			if ok {
				removed = append(removed, p)
			}
			break
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = ctx.Err()
	}
	return removed, err
}
