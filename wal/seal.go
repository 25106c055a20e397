package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// A seal is a small file beside a retired segment ("<segment>.seal") that
// records, once the segment is synced, where its frames end and the index
// of its last record. Open trusts it instead of reading the segment: a
// start reads the last segments only, whatever the backlog. It is checked
// against the segment (the file's size, and the last frame, whose CRC and
// index must match), and a seal that is missing, torn or does not match
// only costs a full scan, as every segment had before seals existed.
// Frames of a sealed segment are checked when they are first read
// (ReadAt, ReplayAt): corruption is reported then, never served.
//
// Older builds ignore seals (they list "*.wal" only).

const sealSuffix = ".seal"

// sealMagic names the seal's format; a seal of another format is ignored.
const sealMagic = "ZQWSEAL1"

// sealSize: magic, last index, end of frames, start of the last frame, CRC-32C.
const sealSize = 8 + 8 + 8 + 8 + 4

// seal is what a seal file records about its segment.
type seal struct {
	last      uint64 // index of the last record (first-1 when empty)
	end       int64  // end of the frames: the segment's size
	lastFrame int64  // offset of the last frame (0 when empty)
}

func sealPath(segment string) string { return segment + sealSuffix }

func (s seal) encode() []byte {
	b := make([]byte, 0, sealSize)
	b = append(b, sealMagic...)
	b = binary.LittleEndian.AppendUint64(b, s.last)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.end))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.lastFrame))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeSeal(b []byte) (seal, bool) {
	if len(b) != sealSize || string(b[:8]) != sealMagic ||
		crc32.Checksum(b[:sealSize-4], castagnoli) != binary.LittleEndian.Uint32(b[sealSize-4:]) {
		return seal{}, false
	}
	s := seal{
		last:      binary.LittleEndian.Uint64(b[8:]),
		end:       int64(binary.LittleEndian.Uint64(b[16:])),
		lastFrame: int64(binary.LittleEndian.Uint64(b[24:])),
	}
	return s, s.end >= 0 && s.lastFrame >= 0 && s.lastFrame <= s.end
}

// writeSeal records that the segment at path, already synced, ends at
// s.end. The seal is synced too, so that the next start can use it; should
// a crash tear it, its CRC fails and the segment is scanned instead.
func writeSeal(path string, s seal) error {
	f, err := os.OpenFile(sealPath(path), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(s.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeSeal deletes a segment's seal, if any.
func removeSeal(path string) error {
	if err := os.Remove(sealPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wal: remove seal: %w", err)
	}
	return nil
}

// sealed returns what the seal of the segment at path, whose first index
// is first, records, if the seal is valid and matches the segment: the
// segment's size is the seal's end, and its last frame starts where the
// seal says, passes its CRC and ends the segment with the seal's last
// index.
func sealed(path string, first uint64) (seal, bool) {
	b, err := os.ReadFile(sealPath(path))
	if err != nil {
		return seal{}, false
	}
	s, ok := decodeSeal(b)
	if !ok || s.end-s.lastFrame > maxBatchBytes+64+8 {
		return seal{}, false
	}
	f, err := os.Open(path)
	if err != nil {
		return seal{}, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() != s.end {
		return seal{}, false
	}
	if s.end == 0 {
		return s, s.last == first-1 && s.lastFrame == 0
	}
	frame := make([]byte, s.end-s.lastFrame)
	if _, err := f.ReadAt(frame, s.lastFrame); err != nil {
		return seal{}, false
	}
	idx, recs, err := decodeFrame(frame)
	if err != nil || idx < first || len(recs) == 0 || idx+uint64(len(recs))-1 != s.last {
		return seal{}, false
	}
	return s, true
}
