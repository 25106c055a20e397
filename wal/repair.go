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
	if _, err := io.Copy(b, io.NewSectionReader(f, good, st.Size()-good)); err != nil {
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
	log.Warn("wal: truncated torn tail", "segment", path, "offset", good, "dropped_bytes", st.Size()-good, "backup", broken, "cause", cause)
	return nil
}
