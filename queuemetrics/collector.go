package queuemetrics

import (
	"context"
	"errors"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zaqar-go/zaqar/storage"
)

const (
	// cacheFor: scrapes closer together than this (several Prometheus
	// servers, a dashboard refreshing) share one collection, since each
	// asks every queue for its stats.
	cacheFor = 2 * time.Second
	// statsTimeout bounds one collection against a slow shared store.
	statsTimeout = 10 * time.Second
)

var (
	queueLabels = []string{"project", "queue"}

	descQueueMessages = prometheus.NewDesc("zaqar_queue_messages",
		"Live messages of the queue by state: visible (a claim could take them now), claimed (held by a live claim), delayed (not visible yet).",
		append([]string{"state"}, queueLabels...), nil)
	descQueueOldest = prometheus.NewDesc("zaqar_queue_oldest_message_age_seconds",
		"Age of the queue's oldest live message, claimed or not (0 when empty).", queueLabels, nil)
	descQueuePosted = prometheus.NewDesc("zaqar_queue_messages_posted_total",
		"Messages posted to the queue since the server started.", queueLabels, nil)
	descQueueClaimed = prometheus.NewDesc("zaqar_queue_messages_claimed_total",
		"Messages handed out by claims (and pops) from the queue since the server started.", queueLabels, nil)
	descQueueDeleted = prometheus.NewDesc("zaqar_queue_messages_deleted_total",
		"Successful message deletions (and pops) in the queue since the server started, repeated ones included.", queueLabels, nil)

	descMessages = prometheus.NewDesc("zaqar_messages",
		"Live messages of all queues by state (visible, claimed, delayed).", []string{"state"}, nil)
	descOldest = prometheus.NewDesc("zaqar_oldest_message_age_seconds",
		"Age of the oldest live message of any queue (0 when all are empty).", nil, nil)
	descPosted = prometheus.NewDesc("zaqar_messages_posted_total",
		"Messages posted to any queue since the server started.", nil, nil)
	descClaimed = prometheus.NewDesc("zaqar_messages_claimed_total",
		"Messages handed out by claims (and pops) since the server started.", nil, nil)
	descDeleted = prometheus.NewDesc("zaqar_messages_deleted_total",
		"Successful message deletions (and pops) since the server started.", nil, nil)
	descQueues = prometheus.NewDesc("zaqar_queues",
		"Queues whose stats were collected (every queue of the embedded store; the queues used since start for other stores).", nil, nil)
	descOmitted = prometheus.NewDesc("zaqar_queue_series_omitted",
		"Queues left without per-queue series by [metrics] per_queue_limit or per_queue_metrics = false.", nil, nil)
	descErrors = prometheus.NewDesc("zaqar_queue_stats_errors",
		"Queues whose stats could not be read in the last collection.", nil, nil)
)

// row is one queue's figures in a collection.
type row struct {
	key
	stats                    storage.QueueStats
	posted, claimed, deleted int64
}

type collector struct{ m *Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueMessages, descQueueOldest, descQueuePosted, descQueueClaimed,
		descQueueDeleted, descMessages, descOldest, descPosted, descClaimed, descDeleted, descQueues, descOmitted, descErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, metric := range c.m.collect() {
		ch <- metric
	}
}

// collect reads every known queue's stats and builds the series, reusing
// the last collection if it is recent.
func (m *Store) collect() []prometheus.Metric {
	m.collectMu.Lock()
	defer m.collectMu.Unlock()
	now := m.opts.Now()
	if !m.last.IsZero() && now.Sub(m.last) < cacheFor && !now.Before(m.last) {
		return m.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	rows, errs := m.rows(ctx)

	var visible, claimed, delayed, oldestAge float64
	for i := range rows {
		st := &rows[i].stats
		visible += float64(st.Free - st.Delayed)
		claimed += float64(st.Claimed)
		delayed += float64(st.Delayed)
		oldestAge = max(oldestAge, age(now, st))
	}
	out := []prometheus.Metric{
		gauge(descMessages, visible, "visible"), gauge(descMessages, claimed, "claimed"), gauge(descMessages, delayed, "delayed"),
		gauge(descOldest, oldestAge),
		counter(descPosted, m.posted.Load()), counter(descClaimed, m.claimed.Load()), counter(descDeleted, m.deleted.Load()),
		gauge(descQueues, float64(len(rows))), gauge(descErrors, float64(errs)),
	}
	shown := rows[:0]
	if m.opts.PerQueue {
		shown = top(rows, m.opts.Limit)
	}
	out = append(out, gauge(descOmitted, float64(len(rows)-len(shown))))
	for _, r := range shown {
		if !utf8.ValidString(r.project) || !utf8.ValidString(r.queue) {
			continue // Prometheus label values must be UTF-8: never panic on a project id
		}
		st := &r.stats
		lv := []string{r.project, r.queue}
		out = append(out,
			gauge(descQueueMessages, float64(st.Free-st.Delayed), "visible", r.project, r.queue),
			gauge(descQueueMessages, float64(st.Claimed), "claimed", r.project, r.queue),
			gauge(descQueueMessages, float64(st.Delayed), "delayed", r.project, r.queue),
			gauge(descQueueOldest, age(now, st), lv...),
			counter(descQueuePosted, r.posted, lv...), counter(descQueueClaimed, r.claimed, lv...),
			counter(descQueueDeleted, r.deleted, lv...))
	}
	m.last, m.cached = now, out
	return out
}

// rows reads the stats of every queue the store enumerates (or, for a
// store that cannot, every queue with counts), and drops the counts of
// queues that are gone.
func (m *Store) rows(ctx context.Context) (rows []row, errs int) {
	var keys []key
	if m.opts.Queues != nil {
		live := map[key]bool{}
		m.opts.Queues(func(project, queue string) bool {
			k := key{project, queue}
			live[k] = true
			keys = append(keys, k)
			return true
		})
		m.mu.Lock()
		for k := range m.queues {
			if !live[k] {
				delete(m.queues, k)
			}
		}
		for _, k := range keys {
			if m.queues[k] == nil {
				m.queues[k] = &counts{}
			}
		}
		m.mu.Unlock()
	} else {
		m.mu.RLock()
		for k := range m.queues {
			keys = append(keys, k)
		}
		m.mu.RUnlock()
	}
	rows = make([]row, 0, len(keys))
	for _, k := range keys {
		st, err := m.Store.QueueStats(ctx, k.project, k.queue)
		if errors.Is(err, storage.ErrQueueNotFound) {
			m.forget(k)
			continue
		}
		if err != nil {
			errs++
			continue
		}
		r := row{key: k, stats: st}
		if c := m.counts(k.project, k.queue, false); c != nil {
			r.posted, r.claimed, r.deleted = c.posted.Load(), c.claimed.Load(), c.deleted.Load()
		}
		rows = append(rows, r)
	}
	return rows, errs
}

// top keeps the limit queues holding the most messages, the busiest
// first among equals, so that a backlog building up is always shown.
func top(rows []row, limit int) []row {
	sort.Slice(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		if a.stats.Total != b.stats.Total {
			return a.stats.Total > b.stats.Total
		}
		if a.posted+a.claimed != b.posted+b.claimed {
			return a.posted+a.claimed > b.posted+b.claimed
		}
		if a.project != b.project {
			return a.project < b.project
		}
		return a.queue < b.queue
	})
	return rows[:min(limit, len(rows))]
}

func age(now time.Time, st *storage.QueueStats) float64 {
	if st.Oldest == nil {
		return 0
	}
	return max(0, now.Sub(st.Oldest.Created).Seconds())
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}
