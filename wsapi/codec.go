package wsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/vmihailenco/msgpack/v5"
)

// decodeFrame reads a request frame into JSON-shaped values: objects are
// map[string]any, numbers json.Number, strings string, whatever the
// encoding (MessagePack's integers, floats and byte strings are mapped
// onto those), so every action validates one representation.
func decodeFrame(data []byte, binary bool) (any, error) {
	if binary {
		var v any
		// A bytes.Reader is read directly (it is an io.ByteScanner), so
		// what it has left is what follows the document.
		// Skipping first checks the structure without allocating: the
		// library sizes a decoded array by its declared length, so a
		// few bytes could otherwise ask for gigabytes; once every element
		// is known to be present, lengths are bounded by the frame.
		if err := msgpack.NewDecoder(bytes.NewReader(data)).Skip(); err != nil {
			return nil, err
		}
		r := bytes.NewReader(data)
		dec := msgpack.NewDecoder(r)
		dec.SetMapDecoder(decodeMap)
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if r.Len() > 0 {
			return nil, fmt.Errorf("extra data after the document")
		}
		return fromMsgpack(v)
	}
	var v any
	// The frame's buffer is the caller's for good (ReadMessage returns a
	// new one each time), so decoded strings may alias it.
	if err := jsonAPI.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonAPI decodes numbers as json.Number (exact, and typed as the
// schema's integer only when integral) and encodes maps with sorted keys,
// as encoding/json does.
var jsonAPI = sonic.Config{UseNumber: true, SortMapKeys: true}.Froze()

// decodeMap decodes a MessagePack map whose keys must be strings (JSON's
// rule); the library's own untyped map panics on a key that cannot be
// hashed, such as a map.
func decodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, min(n, 64))
	for i := 0; i < n; i++ {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		key, err := stringKey(k)
		if err != nil {
			return nil, err
		}
		if m[key], err = d.DecodeInterface(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fromMsgpack maps decoded MessagePack values onto JSON's value space.
func fromMsgpack(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case []byte:
		return string(x), nil
	case int8, int16, int32, int64, int:
		return json.Number(strconv.FormatInt(reflect.ValueOf(x).Int(), 10)), nil
	case uint8, uint16, uint32, uint64, uint:
		return json.Number(strconv.FormatUint(reflect.ValueOf(x).Uint(), 10)), nil
	case float32:
		return floatNumber(float64(x))
	case float64:
		return floatNumber(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = fromMsgpack(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		for k, e := range x {
			n, err := fromMsgpack(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			key, err := stringKey(k)
			if err != nil {
				return nil, err
			}
			n, err := fromMsgpack(e)
			if err != nil {
				return nil, err
			}
			out[key] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("value of type %T has no JSON form", v)
}

func floatNumber(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %v has no JSON form", f)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// encodeFrame encodes an answer in the request's encoding. Values are
// JSON-shaped (json.Number, json.RawMessage for stored message bodies).
func encodeFrame(v any, binary bool) ([]byte, error) {
	if !binary {
		return jsonAPI.Marshal(v)
	}
	mv, err := toMsgpack(v)
	if err != nil {
		return nil, err
	}
	return msgpack.Marshal(mv)
}

// toMsgpack turns JSON-shaped values into ones MessagePack encodes as
// their natural types: numbers as integers where they are integral, raw
// JSON decoded.
func toMsgpack(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		// A number beyond float64 is valid JSON; MessagePack's nearest is
		// the infinity ParseFloat returns with ErrRange.
		f, err := x.Float64()
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil
	case json.RawMessage:
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		var inner any
		if err := dec.Decode(&inner); err != nil {
			return nil, err
		}
		return toMsgpack(inner)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := toMsgpack(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := toMsgpack(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []map[string]any:
		items := make([]any, len(x))
		for i, e := range x {
			items[i] = e
		}
		return toMsgpack(items)
	}
	return v, nil
}

// stringKey accepts the map keys JSON allows: MessagePack may carry them
// as str or bin.
func stringKey(k any) (string, error) {
	switch kk := k.(type) {
	case string:
		return kk, nil
	case []byte:
		return string(kk), nil
	}
	return "", fmt.Errorf("map key of type %T is not a string", k)
}
