package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	consumed       prometheus.Counter
	deadLettered   *prometheus.CounterVec
	retries        *prometheus.CounterVec
	commitSeconds  prometheus.Histogram
	commitErrors   prometheus.Counter
	staleCommits   prometheus.Counter
	kafkaErrors    prometheus.Counter
	lag            *prometheus.GaugeVec
	readerRestarts prometheus.Counter
	batchSize      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "posts_consumed_total",
			Help: "Messages fetched from the posts topic.",
		}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "dead_lettered_total",
			Help: "Messages written to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "retries_total",
			Help: "Failed attempts to make a post's outcome durable, by step (handle, dead-letter).",
		}, []string{"step"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "commit_duration_seconds",
			Help:    "Latency of offset commits.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "commit_errors_total",
			Help: "Offset commits that failed (retried on the next tick).",
		}),
		staleCommits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "commits_skipped_total",
			Help: "Partition commits skipped because the group had already committed at or past them (work finished after a rebalance moved the partition).",
		}),
		kafkaErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "kafka_errors_total",
			Help: "Errors reported by the Kafka client (fetch, group, connection).",
		}),
		readerRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "reader_restarts_total",
			Help: "Kafka readers restarted by the watchdog after no progress while lagging.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "batch_size",
			Help:    "Valid posts handed to the handler at once (a worker takes what waits in its queue).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lookout", Subsystem: "ingest", Name: "consumer_lag_messages",
			Help: "Messages behind the partition's high watermark at the last fetch.",
		}, []string{"partition"}),
	}
	for _, r := range Reasons {
		m.deadLettered.WithLabelValues(string(r))
	}
	for _, step := range []string{"handle", "dead-letter"} {
		m.retries.WithLabelValues(step)
	}
	if reg != nil {
		reg.MustRegister(m.consumed, m.deadLettered, m.retries, m.commitSeconds, m.commitErrors, m.staleCommits, m.kafkaErrors, m.lag, m.readerRestarts, m.batchSize)
	}
	return m
}
