package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/s2"
)

// maxBatchBytes bounds one frame's payload.
const maxBatchBytes = 64 << 20

const headerSize = 21 // len, crc, first, n, flags

// The flags byte: bit 0 says the payload is compressed, bits 1-3 are
// reserved (zero), bits 4-7 hold the format version. Frames written before
// there was a version have flags 0 or 1, so they read as version 0, which
// has the same layout as version 1. A later format bumps the version, so
// that a build that does not know it refuses the frame instead of
// misreading it, and an older build that ignores the version still reads
// version 1.
const (
	flagCompressed = 1 << 0
	flagsReserved  = 0x0e
	versionShift   = 4
	frameVersion   = 1 // written by this build; it reads 0 and 1
)

// errFrameFormat is a frame that passed its CRC but was written in a
// format this build does not know, by a newer one. It is never taken for
// a torn write: repairing the log would cut off its records.
var errFrameFormat = errors.New("wal: unknown frame format")

// checkFlags accepts the flags of the frame versions this build reads.
func checkFlags(flags byte) error {
	if v := flags >> versionShift; v > frameVersion {
		return fmt.Errorf("%w: version %d (this build reads versions 0 to %d)", errFrameFormat, v, frameVersion)
	}
	if flags&flagsReserved != 0 {
		return fmt.Errorf("%w: flags %#02x of version %d", errFrameFormat, flags, flags>>versionShift)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkBatch rejects a batch too large for one frame.
func checkBatch(records [][]byte) error {
	size := 0
	for _, r := range records {
		size += binary.MaxVarintLen32 + len(r)
	}
	if size > maxBatchBytes {
		return errRecordTooLarge
	}
	return nil
}

// appendFrame appends the frame for records to dst; first is stamped
// later (sealFrame), by the writer that knows the next index. rel receives
// each record's offset within the frame, unless the frame is compressed.
func (l *Log) appendFrame(dst []byte, records [][]byte, rel []int) ([]byte, []int) {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	if l.opts.Compression {
		var payload []byte
		for _, r := range records {
			payload = binary.AppendUvarint(payload, uint64(len(r)))
			payload = append(payload, r...)
		}
		dst = append(dst, s2.Encode(nil, payload)...)
		sealHeader(dst[start:], len(records), frameVersion<<versionShift|flagCompressed)
		return dst, nil
	}
	rel = rel[:0]
	for _, r := range records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		rel = append(rel, len(dst)-start)
		dst = append(dst, r...)
	}
	sealHeader(dst[start:], len(records), frameVersion<<versionShift)
	return dst, rel
}

func sealHeader(frame []byte, n int, flags byte) {
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(frame)-8))
	binary.LittleEndian.PutUint32(frame[16:], uint32(n))
	frame[20] = flags
}

// sealFrame stamps the first index and the checksum.
func sealFrame(frame []byte, first uint64) {
	binary.LittleEndian.PutUint64(frame[8:], first)
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(frame[8:], castagnoli))
}

// decodeFrame checks and decodes one complete frame, returning the index of
// its first record and the records (aliasing frame unless compressed).
func decodeFrame(frame []byte) (uint64, [][]byte, error) {
	if len(frame) < headerSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", errCRCMismatch, len(frame))
	}
	n := binary.LittleEndian.Uint32(frame)
	if int(n) != len(frame)-8 {
		return 0, nil, fmt.Errorf("%w: length field %d for %d bytes", errCRCMismatch, n, len(frame)-8)
	}
	if crc32.Checksum(frame[8:], castagnoli) != binary.LittleEndian.Uint32(frame[4:]) {
		return 0, nil, errCRCMismatch
	}
	// Only now is the flags byte known to be what the writer meant.
	if err := checkFlags(frame[20]); err != nil {
		return 0, nil, err
	}
	first := binary.LittleEndian.Uint64(frame[8:])
	count := binary.LittleEndian.Uint32(frame[16:])
	payload := frame[headerSize:]
	if frame[20]&flagCompressed != 0 {
		dl, err := s2.DecodedLen(payload)
		if err != nil || dl > maxBatchBytes {
			return 0, nil, fmt.Errorf("%w: bad compressed payload", errCorrupt)
		}
		if payload, err = s2.Decode(nil, payload); err != nil {
			return 0, nil, fmt.Errorf("%w: decompress: %v", errCorrupt, err)
		}
	}
	if uint64(count) > uint64(len(payload)) {
		return 0, nil, fmt.Errorf("%w: %d records in %d bytes", errCorrupt, count, len(payload))
	}
	recs := make([][]byte, 0, count)
	for i := uint32(0); i < count; i++ {
		size, k := binary.Uvarint(payload)
		if k <= 0 || size > uint64(len(payload)-k) {
			return 0, nil, fmt.Errorf("%w: bad record %d", errCorrupt, i)
		}
		recs = append(recs, payload[k:k+int(size)])
		payload = payload[k+int(size):]
	}
	if len(payload) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(payload))
	}
	return first, recs, nil
}
