package wsapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	framesIn  *prometheus.CounterVec
	framesOut *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	closes    *prometheus.CounterVec
	rejected  prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zaqar_websocket_frames_in_total", Help: "WebSocket request frames by action and answer status.",
		}, []string{"action", "status"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zaqar_websocket_frames_out_total", Help: "WebSocket frames sent, by action (notification for pushes) and status.",
		}, []string{"action", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zaqar_websocket_request_seconds", Help: "WebSocket request handling time by action.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"action"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zaqar_websocket_closes_total", Help: "WebSocket connections closed by the server, by close code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zaqar_websocket_rejected_total", Help: "WebSocket upgrades refused at max_connections.",
		}),
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zaqar_websocket_connections", Help: "Open WebSocket connections.",
	}, func() float64 { return float64(s.open.Load()) })
	for _, c := range []prometheus.Collector{m.framesIn, m.framesOut, m.latency, m.closes, m.rejected, open} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one request and its answer.
func (m *metrics) observe(action string, status int, d time.Duration) {
	st := strconv.Itoa(status)
	m.framesIn.WithLabelValues(action, st).Inc()
	m.framesOut.WithLabelValues(action, st).Inc()
	if d > 0 {
		m.latency.WithLabelValues(action).Observe(d.Seconds())
	}
}
