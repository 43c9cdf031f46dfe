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

// storeMetrics count what happens to cases. Register adds them to a
// registry; unregistered, they count unseen.
type storeMetrics struct {
	timeToClaim, timeToResolve *prometheus.HistogramVec
	targetMissed               *prometheus.CounterVec
	escalations, outcomes      *prometheus.CounterVec
	overdueEscalated           prometheus.Counter
}

func newStoreMetrics() *storeMetrics {
	buckets := []float64{10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200}
	m := &storeMetrics{
		timeToClaim: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "time_to_claim_seconds", Help: "Time from a case entering the queue to a volunteer claiming it, by level.",
			Buckets: buckets}, []string{"level"}),
		timeToResolve: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "time_to_resolve_seconds", Help: "Time from a case opening to its resolution, by level.",
			Buckets: buckets}, []string{"level"}),
		targetMissed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "claim_target_missed_total", Help: "Claims made after the level's claim target, by level."}, []string{"level"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "escalations_total", Help: "Cases escalated to supervisors, by reason."}, []string{"reason"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "outcomes_total", Help: "Resolved cases by outcome code."}, []string{"outcome"}),
		overdueEscalated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "overdue_escalated_total", Help: "Pending cases moved up the queue for passing their claim target."}),
	}
	for l := 0; l <= 10; l++ {
		lv := strconv.Itoa(l)
		m.targetMissed.WithLabelValues(lv)
	}
	for _, r := range EscalateReasons {
		m.escalations.WithLabelValues(r)
	}
	for _, o := range OutcomeCodes {
		m.outcomes.WithLabelValues(o)
	}
	return m
}

// Register adds the store's case metrics to reg.
func (s *Store) Register(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.timeToClaim, m.timeToResolve, m.targetMissed, m.escalations, m.outcomes, m.overdueEscalated} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// QueueCollector computes queue figures from Redis at scrape time.
type QueueCollector struct {
	store                       *Store
	pending, oldest, overdue    *prometheus.Desc
	claimed, escalated, watched *prometheus.Desc
	up                          *prometheus.Desc
	memUsed, memMax             *prometheus.Desc
	precision, resolved         *prometheus.Desc
	onDuty                      *prometheus.Desc
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
		memUsed:   d("redis_used_memory_bytes", "Redis used_memory at scrape time."),
		memMax:    d("redis_maxmemory_bytes", "Redis maxmemory (0: no limit)."),
		precision: d("outcome_precision_ratio", "Share of resolved cases at a level that were not false positives, last 28 days.", "level"),
		resolved:  d("outcome_resolved_cases", "Resolved cases at a level, last 28 days (duplicates excluded).", "level"),
		onDuty:    d("on_duty_users", "Active accounts that made a request by hand (not a page refreshing itself or a lease renewing) in the last 15 minutes, by role.", "role"),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.oldest, c.overdue, c.claimed, c.escalated, c.watched, c.up, c.memUsed, c.memMax, c.precision, c.resolved, c.onDuty} {
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
	ch <- prometheus.MustNewConstMetric(c.memUsed, prometheus.GaugeValue, float64(st.UsedMemory))
	ch <- prometheus.MustNewConstMetric(c.memMax, prometheus.GaugeValue, float64(st.MaxMemory))
	if n, err := c.store.OnDuty(ctx); err == nil {
		for _, r := range Roles {
			ch <- prometheus.MustNewConstMetric(c.onDuty, prometheus.GaugeValue, float64(n[r]), string(r))
		}
	}
	if p, err := c.store.Precision(ctx, c.store.clock().AddDate(0, 0, -PrecisionDays), time.UTC); err == nil { // by level only
		for l, r := range p.ByLevel {
			if r.Resolved == 0 {
				continue
			}
			lv := strconv.Itoa(l)
			ch <- prometheus.MustNewConstMetric(c.precision, prometheus.GaugeValue, r.Precision, lv)
			ch <- prometheus.MustNewConstMetric(c.resolved, prometheus.GaugeValue, float64(r.Resolved), lv)
		}
	}
}
