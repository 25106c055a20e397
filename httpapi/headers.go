package httpapi

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// setHeader sets a response header under the name exactly as given. The
// original sends its headers in lower case (location, vary, allow, ...)
// and some clients compare names case-sensitively, so they are written as
// it writes them rather than in fasthttp's canonical form. (fasthttp
// itself writes Content-Type, Content-Length, Date and Server.)
func setHeader(ctx *fasthttp.RequestCtx, name, value string) {
	ctx.Response.Header.DisableNormalizing()
	ctx.Response.Header.Set(name, value)
}

// pyList writes strings as Python prints a list of them, as Zaqar's texts
// show lists: ['a', 'b'].
func pyList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = "'" + s + "'"
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
