package wal

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// repairTail handles a torn write at the end of the last segment: the bytes
// from offset good on are copied to "<segment>.broken" for inspection, then
// the segment is truncated to its last good frame and synced.
func repairTail(path string, good int64, log *slog.Logger, cause error) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("wal: repair open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: repair stat: %w", err)
	}
	broken := path + ".broken"
	b, err := os.Create(broken)
	if err != nil {
		return fmt.Errorf("wal: repair backup: %w", err)
	}
	end, err := dataEnd(f, good, st.Size())
	if err != nil {
		b.Close()
		return fmt.Errorf("wal: repair scan: %w", err)
	}
	if _, err := io.Copy(b, io.NewSectionReader(f, good, end-good)); err != nil {
		b.Close()
		return fmt.Errorf("wal: repair backup: %w", err)
	}
	if err := b.Sync(); err != nil {
		b.Close()
		return fmt.Errorf("wal: repair backup sync: %w", err)
	}
	b.Close()
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("wal: repair truncate: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: repair sync: %w", err)
	}
	log.Warn("wal: truncated torn tail", "segment", path, "offset", good, "dropped_bytes", end-good, "backup", broken, "cause", cause)
	return nil
}

// dataEnd is the offset just past the last non-zero byte of f in
// [from, size): a segment's preallocated or zero-filled space need not be
// kept as evidence.
func dataEnd(f *os.File, from, size int64) (int64, error) {
	buf := make([]byte, 1<<20)
	for end := size; end > from; {
		start := max(from, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return from, nil
}
