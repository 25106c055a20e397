package httpapi

import (
	"reflect"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestQueryList: a comma-separated parameter splits into its non-empty,
// trimmed items; a parameter absent, empty or naming nothing is no list.
func TestQueryList(t *testing.T) {
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"ids=", nil},
		{"ids=,", nil},
		{"ids=%20,%20", nil},
		{"ids=a", []string{"a"}},
		{"ids=a,b,,c", []string{"a", "b", "c"}},
		{"ids=,a,", []string{"a"}},
		{"ids=%20a%20,b%2Cc", []string{"a", "b", "c"}},
		{"other=a", nil},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/v2/queues/q/messages?" + c.query)
		if got := queryList(&ctx, "ids"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q, want %q", c.query, got, c.want)
		}
	}
}
