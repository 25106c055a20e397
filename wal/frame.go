package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/s2"
)

// maxBatchBytes bounds one frame's payload.
const maxBatchBytes = 64 << 20

const (
	headerSize     = 21 // len, crc, first, n, flags
	flagCompressed = 1
)

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
		sealHeader(dst[start:], len(records), flagCompressed)
		return dst, nil
	}
	rel = rel[:0]
	for _, r := range records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		rel = append(rel, len(dst)-start)
		dst = append(dst, r...)
	}
	sealHeader(dst[start:], len(records), 0)
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
