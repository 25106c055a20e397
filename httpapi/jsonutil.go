package httpapi

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/valyala/fasthttp"
)

// numberAPI decodes control-plane JSON (metadata, options) with numbers as
// json.Number, as the storage contract requires.
var numberAPI = sonic.Config{UseNumber: true, CopyString: true}.Froze()

// rawAPI decodes request documents whose raw parts are used only during
// the request (message bodies are copied by the store).
var rawAPI = sonic.Config{}.Froze()

// outAPI encodes control-plane answers with sorted keys, so the same state
// always gives the same bytes.
var outAPI = sonic.Config{SortMapKeys: true}.Froze()

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// writeJSON sets status and a JSON body (copied by fasthttp).
func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// writeJSONBuf answers with the JSON b, built in the pooled buffer bp,
// and keeps b's array in bp for the caller's putBuf, so answers with
// messages (~12 KiB for a claim of 10) grow no fresh buffer. Handing b to
// the response instead (SwapBody) measured slower: the response's buffers
// and this pool's traded places, and each side kept growing small ones.
func writeJSONBuf(ctx *fasthttp.RequestCtx, status int, bp *[]byte, b []byte) {
	writeJSON(ctx, status, b)
	*bp = b[:0]
}

func writeValue(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := outAPI.Marshal(v)
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "Internal server error", err.Error())
		return
	}
	writeJSON(ctx, status, b)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
