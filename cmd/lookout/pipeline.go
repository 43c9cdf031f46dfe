package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lookout/classifier"
	"lookout/ingest"
	"lookout/triage"
)

// recorder is what the pipeline needs of the case store.
type recorder interface {
	RecordBatch(ctx context.Context, posts []triage.Scored, out []triage.Recorded) ([]triage.Recorded, error)
}

var _ recorder = (*triage.Store)(nil)

// scorer is what the pipeline needs of the classifier.
type scorer interface {
	Score(text string) (classifier.Result, error)
}

// pipeline scores each post and records its outcome: the ingest Handler.
type pipeline struct {
	scorer  scorer
	store   recorder
	log     *slog.Logger
	metrics *pipelineMetrics
	crash   *crashPoint // fault injection for the crash tests; nil in normal runs
	// scoreTimeout bounds one post's scoring; past it the post is queued
	// for review and the late result is dropped.
	scoreTimeout time.Duration
}

var _ ingest.Handler = (*pipeline)(nil)

func newPipeline(s scorer, r recorder, log *slog.Logger, reg prometheus.Registerer) *pipeline {
	return &pipeline{scorer: s, store: r, log: log.With("component", "pipeline"), metrics: newPipelineMetrics(reg),
		scoreTimeout: 2 * time.Second}
}

// Handle scores each post and records them all in one round trip. A
// classifier failure (error or panic) becomes an unclassified case for
// human review, never "not flagged". Only a storage error is returned, so
// the batch is retried.
func (p *pipeline) Handle(ctx context.Context, posts []ingest.Post) error {
	batch := make([]triage.Scored, len(posts))
	for i, post := range posts {
		batch[i].Post = triage.Post{ID: post.ID, AuthorID: post.AuthorID, Text: post.Text,
			CreatedAt: post.CreatedAt, Source: post.Source, URL: post.URL, ThreadID: post.ThreadID}
	}
	p.scoreAll(batch)
	out, err := p.store.RecordBatch(ctx, batch, make([]triage.Recorded, 0, len(batch)))
	if err != nil {
		p.metrics.storeErrors.Inc()
		return fmt.Errorf("record posts: %w", err)
	}
	for i, r := range out {
		p.crash.at("recorded") // durable in Redis, not yet committed
		p.metrics.scored.Inc()
		if r.Outcome != triage.OutcomeNotFlagged {
			p.metrics.flagged.WithLabelValues(strconv.Itoa(batch[i].Result.Level)).Inc()
		}
		p.metrics.outcomes.WithLabelValues(string(r.Outcome)).Inc()
		if r.Outcome == triage.OutcomeCreated || r.Outcome == triage.OutcomeJoined {
			p.metrics.postToCase.Observe(time.Since(posts[i].CreatedAt).Seconds())
		}
	}
	return nil
}

type scored struct {
	res      classifier.Result
	err      error
	panicked bool
	took     time.Duration
}

// scoreAll grades the batch's posts in order in one goroutine, so that a
// classifier stuck on one post cannot hold its worker: past scoreTimeout
// that post is queued for review, its late result is dropped, and a new
// goroutine goes on with the rest.
func (p *pipeline) scoreAll(batch []triage.Scored) {
	timer := time.NewTimer(p.scoreTimeout)
	defer timer.Stop()
	for i := 0; i < len(batch); {
		results := make(chan scored, len(batch)-i) // never blocks a goroutine left behind
		var abandoned atomic.Bool
		go func(from int) {
			for j := from; j < len(batch) && !abandoned.Load(); j++ {
				results <- p.scoreOne(batch[j].Post.Text)
			}
		}(i)
		for ; i < len(batch); i++ {
			p.crash.at("fetched")
			timer.Reset(p.scoreTimeout)
			select {
			case r := <-results:
				p.metrics.scoreSeconds.Observe(r.took.Seconds())
				batch[i].Result, batch[i].Unclassified = p.outcome(r)
				p.crash.at("scored")
				continue
			case <-timer.C:
			}
			abandoned.Store(true)
			p.metrics.failures.WithLabelValues("timeout").Inc()
			p.log.Error("classifier timed out; post queued for review", "after", p.scoreTimeout)
			batch[i].Result, batch[i].Unclassified = classifier.Result{Model: "unclassified"}, true
			i++
			break
		}
	}
}

// scoreOne grades one post, turning a panic into a result.
func (p *pipeline) scoreOne(text string) (out scored) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			out = scored{panicked: true} // the panic value may quote text: not logged
		}
		out.took = time.Since(start)
	}()
	res, err := p.scorer.Score(text)
	return scored{res: res, err: err}
}

// outcome is what a score becomes: a failure is queued for review.
func (p *pipeline) outcome(out scored) (res classifier.Result, unclassified bool) {
	switch {
	case out.panicked:
		p.metrics.failures.WithLabelValues("panic").Inc()
		p.log.Error("classifier panicked; post queued for review")
		return classifier.Result{Model: "unclassified"}, true
	case errors.Is(out.err, classifier.ErrEmpty):
		return out.res, false // nothing to grade: level 0
	case out.err != nil:
		p.metrics.failures.WithLabelValues("error").Inc()
		return classifier.Result{Model: out.res.Model}, true
	}
	return out.res, false
}

type pipelineMetrics struct {
	scored, storeErrors prometheus.Counter
	flagged, outcomes   *prometheus.CounterVec
	failures            *prometheus.CounterVec
	scoreSeconds        prometheus.Histogram
	postToCase          prometheus.Histogram
}

func newPipelineMetrics(reg prometheus.Registerer) *pipelineMetrics {
	m := &pipelineMetrics{
		scored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "posts_scored_total", Help: "Posts scored and recorded."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "redis_errors_total", Help: "Failed attempts to record a post in Redis (retried)."}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "posts_flagged_total", Help: "Posts that opened or joined a case, by level."}, []string{"level"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "post_outcomes_total", Help: "Recorded posts by outcome (not_flagged, created, joined, duplicate)."}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "classifier_failures_total", Help: "Posts the classifier failed on, queued for review, by kind."}, []string{"kind"}),
		scoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "scoring_duration_seconds", Help: "Time to score one post.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2, 16)}),
		postToCase: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "lookout", Subsystem: "pipeline",
			Name: "post_to_case_seconds", Help: "Time from a post's created_at to its case being recorded.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
	}
	for l := 0; l <= 10; l++ {
		m.flagged.WithLabelValues(strconv.Itoa(l))
	}
	for _, k := range []string{"panic", "error", "timeout"} {
		m.failures.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.scored, m.storeErrors, m.flagged, m.outcomes, m.failures, m.scoreSeconds, m.postToCase)
	}
	return m
}

// crashPoint kills the process (SIGKILL, no cleanup) the n-th time a
// named point is reached: fault injection for the crash tests, set by
// LOOKOUT_CRASH_AT=point:n (points: fetched, scored, recorded). Unset, it
// does nothing.
type crashPoint struct {
	point string
	left  atomic.Int64
}

func parseCrashPoint(v string) (*crashPoint, error) {
	if v == "" {
		return nil, nil
	}
	point, n, ok := strings.Cut(v, ":")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 || (point != "fetched" && point != "scored" && point != "recorded") {
		return nil, fmt.Errorf("LOOKOUT_CRASH_AT: %q is not fetched|scored|recorded:N", v)
	}
	c := &crashPoint{point: point}
	c.left.Store(int64(count))
	return c, nil
}

func (c *crashPoint) at(point string) {
	if c == nil || c.point != point {
		return
	}
	if c.left.Add(-1) == 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
