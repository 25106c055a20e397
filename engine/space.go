package engine

import (
	"fmt"
	"io/fs"
	"math"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/zaqar-go/zaqar/storage"
)

// Space: posts are refused (storage.ErrStorageFull) before the disk fills
// up, so that what frees space never lacks it. Deleting a queue, deleting
// or claiming messages, checkpoints and restarts all write a little first
// (log records, Badger tombstones, a memtable); and Badger writes through
// memory maps, where a full filesystem is not an error but a SIGBUS. Posts
// are the only thing that fills a store, so they alone are refused while
// the filesystem's free space is below MinFreeBytes or the data directory
// holds more than MaxBytes; everything else goes on, and posts are taken
// again at the first check that finds room.

// DefaultMinFreeBytes is the reserve kept free on the data directory's
// filesystem: room for Badger's memtable log (twice its 32 MiB memtable),
// a log segment's preallocation and a compaction's output.
const DefaultMinFreeBytes = 256 << 20

// minOpenMemTable is the smallest Badger memtable the engine opens with on
// a nearly full disk, where a full-size one could not be mapped safely.
const minOpenMemTable = 1 << 20

// checkSpace measures the data directory against the reserve and the
// budget, and refuses or accepts posts accordingly. The reaper calls it at
// every pass.
func (e *Engine) checkSpace() {
	var reason string
	room := int64(math.MaxInt64)
	free, err := freeBytes(e.opts.Dir)
	switch {
	case err != nil:
		e.opts.Logger.Warn("cannot measure the data directory's free space", "dir", e.opts.Dir, "err", err)
	case free < e.opts.MinFreeBytes:
		reason = fmt.Sprintf("%s free on the data directory's filesystem, below the %s reserve kept for deletes and restarts",
			bytesText(free), bytesText(e.opts.MinFreeBytes))
	default:
		room = free - e.opts.MinFreeBytes
	}
	if reason == "" && e.opts.MaxBytes > 0 {
		used := dirBytes(e.opts.Dir)
		if used > e.opts.MaxBytes {
			reason = fmt.Sprintf("the data directory holds %s, over its budget of %s", bytesText(used), bytesText(e.opts.MaxBytes))
		}
		room = min(room, e.opts.MaxBytes-used)
	}
	e.room.Store(room)
	var full error
	if reason != "" {
		full = &storage.StorageFullError{Reason: reason}
	}
	old := e.full.Swap(&full)
	switch was := *old; {
	case full != nil && was == nil:
		e.opts.Logger.Warn("refusing new messages: storage is full; reads, claims and deletes go on", "reason", reason)
	case full == nil && was != nil:
		e.opts.Logger.Info("accepting new messages again: storage has room")
	}
}

// postable returns why a post of these messages is refused, or nil. Between
// two checks, what posts write is taken from the room the last one found,
// so that a fast stream of posts cannot run through the reserve before the
// next check: the refusal comes at once, the check confirms or lifts it.
func (e *Engine) postable(msgs []storage.NewMessage) error {
	if p := e.full.Load(); p != nil && *p != nil {
		return *p
	}
	cost := int64(0)
	for _, m := range msgs {
		cost += int64(len(m.Body)) + postOverhead
	}
	if e.room.Add(-cost) < 0 {
		return &storage.StorageFullError{Reason: "the room left above the reserve is used up; the next space check will tell more"}
	}
	return nil
}

// postOverhead is what a message costs on disk besides its body, roughly:
// its log record's fields and its share of a Badger batch value.
const postOverhead = 256

// freeBytes is what an unprivileged writer may still use on dir's
// filesystem.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// dirBytes is the disk space the files under dir take (allocated blocks:
// Badger's and the log's files are sparse or preallocated).
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*unix.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// memTableFor is the Badger memtable size to open with: the engine's
// usual one, or on a nearly full disk one whose log (twice its size, a
// sparse memory-mapped file) still fits, so that a full store can be
// opened to serve reads and deletes rather than die of SIGBUS.
func memTableFor(dir string, usual int64) (int64, error) {
	free, err := freeBytes(dir)
	if err != nil {
		return usual, nil // not measurable: go on as usual
	}
	if fit := (free - 4*minOpenMemTable) / 4; fit < usual {
		if fit < minOpenMemTable {
			return 0, fmt.Errorf("%w: the data directory's filesystem has %s free; opening needs at least %s: free space on it first",
				storage.ErrUnavailable, bytesText(free), bytesText(8*minOpenMemTable))
		}
		return fit &^ (1<<20 - 1), nil
	}
	return usual, nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
