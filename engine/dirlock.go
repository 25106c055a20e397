package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse is returned by LockDir when a server has the data directory open.
var ErrInUse = errors.New("the data directory is in use by a running server")

// LockDir takes the data directory's lock as Open does, so that no server
// opens it until unlock is called; tools that read the files of a stopped
// server (backup) hold it while they read. It fails with ErrInUse while a
// server runs on dir.
func LockDir(dir string) (unlock func() error, err error) {
	bdir := filepath.Join(dir, "badger")
	// Badger's own lock, which every Open takes: an exclusive flock on
	// its directory (badger's acquireDirectoryLock).
	f, err := os.Open(bdir)
	if err != nil {
		return nil, fmt.Errorf("%s is not a data directory: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("lock %s: %w", bdir, err)
	}
	return f.Close, nil
}
