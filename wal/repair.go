package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// load lists and validates the segments and opens the last for appending.
func (l *Log) load() error {
	if err := os.Remove(filepath.Join(l.opts.Dir, legacySpareName)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("wal: remove spare: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(l.opts.Dir, "*.wal"))
	if err != nil {
		return fmt.Errorf("wal: list segments: %w", err)
	}
	sort.Strings(names)
	if err := removeOrphanSeals(l.opts.Dir); err != nil {
		return err
	}
	var toSeal []func()
	var tailEnd, tailFrame int64      // where the last segment's frames end (the rest is preallocated zeros), and its last frame
	for i := 0; i < len(names); i++ { // the loop may shorten names
		name := names[i]
		first, err := segmentFirst(name)
		if err != nil {
			return err
		}
		seg := segment{first: first, last: first - 1, path: name}
		isLast := i == len(names)-1
		if !isLast {
			// A sealed segment was synced whole when it was retired: no
			// crash can have torn it, so it is not read now (its frames
			// are checked when first read).
			if s, ok := sealed(name, first); ok {
				seg.last, seg.unchecked = s.last, true
				if err := l.appendLoaded(seg); err != nil {
					return err
				}
				continue
			}
		}
		sc, scanErr := scanSegment(name, first, nil)
		good, last := sc.end, sc.last
		if errors.Is(scanErr, errFrameFormat) {
			// Not a torn write wherever it is: repairing would cut off
			// what a newer build wrote.
			return fmt.Errorf("wal: segment %s offset %d: %w", name, good, scanErr)
		}
		if isLast {
			tailEnd, tailFrame = good, sc.lastFrame
		}
		if last != 0 {
			seg.last = last
		}
		if scanErr == nil && !isLast {
			// Written before seals existed, or retired just before a
			// crash: sealed once the whole log has opened (a log that
			// fails to open is left untouched), so that the next start
			// need not read it.
			toSeal = append(toSeal, func() { l.sealOnOpen(name, seal{last: seg.last, end: good, lastFrame: sc.lastFrame}) })
		}
		if scanErr != nil && !isLast {
			frameless, err := framelessAfter(names[i+1:])
			switch {
			case err != nil:
				// A newer build wrote what follows the tear: neither
				// remove nor set aside what this one cannot read.
			case frameless:
				// A crash came between starting the next segment and
				// making this one's tail durable: nothing after the
				// tear was acknowledged (a sync waits for the full
				// segment's), so this is the torn tail of the log.
				err = removeSegments(names[i+1:])
			case l.opts.Sync != SyncAlways && i == len(names)-2:
				// Without fsync=always the last retired segment is synced
				// in the background (the one before it was synced before
				// this one was retired), so writeback may have saved the
				// active segment's frames but not this one's tail. The
				// log is the prefix before the tear; the active segment
				// is kept aside as evidence. No checkpoint covers it: a
				// checkpoint syncs the log, which waits for the
				// retirement.
				err = setAside(names[i+1:], l.log)
			default:
				err = fmt.Errorf("%w: segment %s offset %d: %v", errCorrupt, name, good, scanErr)
			}
			if err == nil {
				err = syncDir(l.opts.Dir)
			}
			if err != nil {
				return err
			}
			names, isLast, tailEnd, tailFrame = names[:i+1], true, good, sc.lastFrame
		}
		if scanErr != nil {
			if !isLast {
				return fmt.Errorf("%w: segment %s offset %d: %v", errCorrupt, name, good, scanErr)
			}
			if err := repairTail(name, good, l.log, scanErr); err != nil {
				return err
			}
			l.repaired = true
		}
		if err := l.appendLoaded(seg); err != nil {
			return err
		}
	}
	if len(l.segments) == 0 {
		return l.newSegment(1)
	}
	for _, seal := range toSeal {
		seal()
	}
	tail := l.segments[len(l.segments)-1]
	l.lastIdx = tail.last
	f, err := os.OpenFile(tail.path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: stat segment: %w", err)
	}
	l.file, l.size, l.written, l.alloc, l.lastFrame = f, tailEnd, tailEnd, st.Size(), tailFrame
	return nil
}

// appendLoaded adds a segment found by load after the previous ones.
func (l *Log) appendLoaded(seg segment) error {
	if len(l.segments) > 0 {
		// Segments may have been removed from the middle (Remove), so
		// gaps are fine; overlap is not.
		if prev := l.segments[len(l.segments)-1]; seg.first <= prev.last {
			return fmt.Errorf("%w: segment %s starts at %d, previous ends at %d", errCorrupt, seg.path, seg.first, prev.last)
		}
	}
	l.segments = append(l.segments, seg)
	return nil
}

// sealOnOpen seals a segment before the last that open found whole, once
// it is surely on disk. Failing only costs the next start a scan.
func (l *Log) sealOnOpen(path string, s seal) {
	st, err := os.Stat(path)
	if err != nil || st.Size() != s.end {
		return // zeros past the frames (a crash before the retirement truncated it): scan it again next time
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err == nil {
		err = fdatasync(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = writeSeal(path, s)
	}
	if err != nil {
		l.log.Warn("wal: could not seal segment", "segment", path, "err", err)
	}
}

// removeOrphanSeals deletes the seals of segments that are gone (a crash
// between removing a segment and its seal).
func removeOrphanSeals(dir string) error {
	seals, err := filepath.Glob(filepath.Join(dir, "*.wal"+sealSuffix))
	if err != nil {
		return fmt.Errorf("wal: list seals: %w", err)
	}
	for _, s := range seals {
		if _, err := os.Stat(strings.TrimSuffix(s, sealSuffix)); errors.Is(err, os.ErrNotExist) {
			if err := os.Remove(s); err != nil {
				return fmt.Errorf("wal: remove seal: %w", err)
			}
		}
	}
	return nil
}

// removeSegments deletes segments that hold no frame.
func removeSegments(names []string) error {
	for _, name := range names {
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("wal: remove empty segment: %w", err)
		}
		if err := removeSeal(name); err != nil {
			return err
		}
	}
	return nil
}

// setAside renames segments past a torn frame to "<segment>.broken": they
// are no longer part of the log, but what they hold is kept.
func setAside(names []string, log *slog.Logger) error {
	for _, name := range names {
		if err := os.Rename(name, name+".broken"); err != nil {
			return fmt.Errorf("wal: set aside segment: %w", err)
		}
		if err := removeSeal(name); err != nil {
			return err
		}
		log.Warn("wal: segment after a torn frame set aside", "segment", name, "backup", name+".broken")
	}
	return nil
}

// framelessAfter reports whether every segment in names holds no frame
// (empty, or zeros only). It fails on a frame of an unknown format in the
// first segment that holds frames.
func framelessAfter(names []string) (bool, error) {
	for _, name := range names {
		first, err := segmentFirst(name)
		if err != nil {
			return false, nil
		}
		sc, err := scanSegment(name, first, nil)
		if errors.Is(err, errFrameFormat) {
			return false, fmt.Errorf("wal: segment %s offset %d: %w", name, sc.end, err)
		}
		if sc.end != 0 || err != nil {
			return false, nil
		}
	}
	return true, nil
}

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
