package notify

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPost measures POST of 10 x 1 KiB messages through the HTTP API
// (8 concurrent posters) with no subscriber, and with 3 webhook
// subscribers: "delivering" lets deliveries run during the measurement
// (they share the CPU with the posts), "held" keeps the receivers from
// answering until it ends, so the figure is the post path's own cost of
// the hand-off. Compare with benchstat across -count runs.
func BenchmarkPost(b *testing.B) {
	body := `"` + fmt.Sprintf("%01000d", 0) + `"`
	bodies := make([]string, 10)
	for i := range bodies {
		bodies[i] = body
	}
	for _, tc := range []struct {
		name  string
		subs  int
		hold  bool
		yield time.Duration
	}{
		{"subscribers=0", 0, false, 20 * time.Millisecond},
		{"subscribers=3/delivering", 3, false, 20 * time.Millisecond},
		{"subscribers=3/delivering/no-yield", 3, false, 0},
		{"subscribers=3/held", 3, true, 20 * time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, nil, func(o *Options) { o.Workers, o.YieldToPosts = 4, tc.yield })
			// Receivers only count: the figure is the server's cost.
			var delivered atomic.Int64
			release := make(chan struct{})
			if !tc.hold {
				close(release)
			}
			for i := 0; i < tc.subs; i++ {
				r := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					<-release
					io.Copy(io.Discard, req.Body)
					delivered.Add(1)
				}))
				b.Cleanup(r.Close)
				e.subscribe("bench", r.URL, `{}`)
			}
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.post("bench", bodies...)
				}
			})
			b.StopTimer()
			if tc.hold {
				close(release)
			}
			// Every message reaches every subscriber before the next run.
			want := int64(b.N * len(bodies) * tc.subs)
			e.eventually("every delivery", func() bool { return delivered.Load() >= want })
			b.ReportMetric(float64(e.counter("zaqar_notification_deferred_total", nil))/float64(b.N), "deferred/op")
		})
	}
}
