package triage

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sweeper periodically returns expired leases to the queue and brings
// due follow-ups back. Every instance may run one: the sweep script is
// idempotent and atomic.
type Sweeper struct {
	store     *Store
	interval  time.Duration
	log       *slog.Logger
	expired   prometheus.Counter
	followups prometheus.Counter
	errors    prometheus.Counter
}

// NewSweeper returns a Sweeper running every interval.
func NewSweeper(s *Store, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *Sweeper {
	sw := &Sweeper{store: s, interval: interval, log: log.With("component", "triage.sweeper"),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "leases_expired_total", Help: "Claims whose lease expired and returned to the queue."}),
		followups: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "followups_due_total", Help: "Resolved cases brought back for a follow-up."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lookout", Subsystem: "triage",
			Name: "sweep_errors_total", Help: "Sweeps that failed (Redis errors)."}),
	}
	if reg != nil {
		reg.MustRegister(sw.expired, sw.followups, sw.errors)
	}
	return sw
}

// Run sweeps until ctx ends: at once (so the store reads Redis's clock
// from the start) and then every interval.
func (sw *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(sw.interval)
	defer t.Stop()
	for n := 0; ; n++ {
		sw.once(ctx, n%12 == 0) // repairs about once a minute at the default interval
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once sweeps, and repairs the case indexes when repair is set.
func (sw *Sweeper) once(ctx context.Context, repair bool) {
	exp, fol, err := sw.store.Sweep(ctx)
	if err != nil {
		if ctx.Err() == nil {
			sw.errors.Inc()
			sw.log.Warn("sweep failed", "err", err)
		}
		return
	}
	sw.expired.Add(float64(exp))
	sw.followups.Add(float64(fol))
	if !repair {
		return
	}
	if fixed, err := sw.store.Repair(ctx); err != nil && ctx.Err() == nil {
		sw.errors.Inc()
		sw.log.Warn("repair failed", "err", err)
	} else if fixed > 0 {
		sw.log.Warn("repaired case indexes", "fixed", fixed)
	}
}
