package triage

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "http", Name: "requests_total",
			Help: "HTTP API requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "lookout", Subsystem: "http", Name: "request_duration_seconds",
			Help: "HTTP API latency by route pattern.", Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// QueueCollector computes queue figures from Redis at scrape time.
type QueueCollector struct {
	store                       *Store
	pending, oldest, overdue    *prometheus.Desc
	claimed, escalated, watched *prometheus.Desc
	up                          *prometheus.Desc
}

// NewQueueCollector returns a collector of s's queue figures.
func NewQueueCollector(s *Store) *QueueCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("lookout_triage_"+name, help, labels, nil)
	}
	return &QueueCollector{store: s,
		pending:   d("pending_cases", "Cases waiting in the volunteer queue, by level.", "level"),
		oldest:    d("oldest_pending_age_seconds", "Age of the longest-waiting pending case, by level.", "level"),
		overdue:   d("overdue_cases", "Pending cases past their claim target, by level.", "level"),
		claimed:   d("claimed_cases", "Cases held by a volunteer."),
		escalated: d("escalated_cases", "Cases escalated to supervisors."),
		watched:   d("watch_cases", "Cases on the watch list."),
		up:        d("redis_up", "1 when the last scrape read Redis."),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.oldest, c.overdue, c.claimed, c.escalated, c.watched, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := c.store.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for l := 0; l <= 10; l++ {
		lv := strconv.Itoa(l)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.PendingByLevel[l]), lv)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestPendingAge[l].Seconds(), lv)
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(st.OverdueByLevel[l]), lv)
	}
	ch <- prometheus.MustNewConstMetric(c.claimed, prometheus.GaugeValue, float64(st.Claimed))
	ch <- prometheus.MustNewConstMetric(c.escalated, prometheus.GaugeValue, float64(st.Escalated))
	ch <- prometheus.MustNewConstMetric(c.watched, prometheus.GaugeValue, float64(st.Watch))
}
