package classifier

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
)

// Prediction pairs a gold level with a graded Result, for evaluation.
type Prediction struct {
	Gold  int
	Level int
	PHigh float64
}

// Report is the evaluation of a classifier on labeled posts.
type Report struct {
	N                                 int
	HighPrecision, HighRecall, HighF1 float64
	Recall910                         float64 // share of gold 9-10 graded high risk
	// The emergency route (levels 9-10): of the posts graded 9-10, the
	// share at 9-10 (precision); of the posts at 9-10, the share graded
	// 9-10 (recall).
	EmergencyPrecision, EmergencyRecall float64
	Accuracy, WeightedF1, MAE           float64
	// How far the headline figures could move on another sample of posts
	// like these: 95% bootstrap intervals (intervals).
	HighF1Interval, Recall910Interval, WeightedF1Interval, MAEInterval Interval
	Confusion                                                          [11][11]int // [gold][predicted]
	Levels                                                             [11]LevelScore
	NegN, NegFlagged                                                   int // ordinary posts and how many were graded high risk
	Thresholds                                                         []ThresholdRow
	// Calibration of p_high on the labeled posts: the Brier score (mean
	// squared error against high risk 0/1), the expected calibration
	// error (the posts' share-weighted gap between mean p_high and the
	// share at high risk, over ten equal-width bins) and those bins.
	Brier, ECE  float64
	Reliability [10]CalibrationBin
}

// Interval is a range of a figure, [Lo, Hi].
type Interval struct{ Lo, Hi float64 }

// LevelScore is how well one level of the scale is graded: of the posts
// graded at it, the share at it (precision); of the posts at it, the share
// graded at it (recall).
type LevelScore struct {
	Support               int // posts at this gold level
	Precision, Recall, F1 float64
}

// CalibrationBin is the labeled posts whose p_high is in [Lo, Lo+0.1)
// (the last bin includes 1).
type CalibrationBin struct {
	Lo        float64
	N         int
	MeanPHigh float64
	HighShare float64 // of the bin's posts, the share at level 6 or more
}

// ThresholdRow is one row of the p_high threshold table.
type ThresholdRow struct {
	Threshold         float64
	Precision, Recall float64
	FlagsPer10k       float64 // among ordinary posts (negatives)
}

// Evaluate computes the report; negatives are ordinary posts (unlabeled,
// assumed not at high risk) graded by the same classifier. Levels are
// 0-10; one outside is counted as the nearest of them.
func Evaluate(labeled []Prediction, negatives []Prediction) Report {
	r := Report{N: len(labeled), NegN: len(negatives)}
	for _, p := range labeled {
		r.Confusion[clampLevel(p.Gold)][clampLevel(p.Level)]++
	}
	r.figures()
	for _, p := range negatives {
		if p.Level >= HighRiskLevel {
			r.NegFlagged++
		}
	}
	r.intervals(labeled)
	r.calibrate(labeled)
	for _, t := range []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} {
		var at binCounts
		nf := 0
		for _, p := range labeled {
			at.add(p.Gold >= HighRiskLevel, p.PHigh >= t)
		}
		for _, p := range negatives {
			if p.PHigh >= t {
				nf++
			}
		}
		pr, rc, _ := at.prf()
		r.Thresholds = append(r.Thresholds, ThresholdRow{Threshold: t, Precision: pr, Recall: rc,
			FlagsPer10k: 10000 * ratio(nf, len(negatives))})
	}
	return r
}

// figures derives the figures that depend only on gold and graded levels
// from the confusion matrix.
func (r *Report) figures() {
	var high, emergency binCounts
	var n, g910, g910hit, correct, absErr int
	for g := range 11 {
		for q := range 11 {
			c := r.Confusion[g][q]
			if c == 0 {
				continue
			}
			n += c
			high.addN(g >= HighRiskLevel, q >= HighRiskLevel, c)
			emergency.addN(g >= emergencyLevel, q >= emergencyLevel, c)
			if g >= emergencyLevel {
				g910 += c
				if q >= HighRiskLevel {
					g910hit += c
				}
			}
			if g == q {
				correct += c
			}
			absErr += c * max(g-q, q-g)
		}
	}
	r.HighPrecision, r.HighRecall, r.HighF1 = high.prf()
	r.Recall910 = ratio(g910hit, g910)
	r.EmergencyPrecision, r.EmergencyRecall, _ = emergency.prf()
	r.Accuracy = ratio(correct, n)
	r.MAE = ratio(absErr, n)
	r.Levels = levelScores(&r.Confusion)
	var wsum float64
	for _, l := range r.Levels {
		wsum += l.F1 * float64(l.Support)
	}
	r.WeightedF1 = ratio64(wsum, n)
}

// bootstrapRounds is how many resamples of the labeled posts the
// intervals are taken over.
const bootstrapRounds = 1000

// intervals sets the 95% bootstrap intervals of the headline figures: the
// labeled posts resampled with replacement bootstrapRounds times, from a
// fixed seed, so that the same predictions give the same intervals.
func (r *Report) intervals(labeled []Prediction) {
	if len(labeled) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var f1, r910, wf1, mae [bootstrapRounds]float64
	for b := range bootstrapRounds {
		var s Report
		for range labeled {
			p := labeled[rng.IntN(len(labeled))]
			s.Confusion[clampLevel(p.Gold)][clampLevel(p.Level)]++
		}
		s.figures()
		f1[b], r910[b], wf1[b], mae[b] = s.HighF1, s.Recall910, s.WeightedF1, s.MAE
	}
	r.HighF1Interval, r.Recall910Interval = interval95(f1[:]), interval95(r910[:])
	r.WeightedF1Interval, r.MAEInterval = interval95(wf1[:]), interval95(mae[:])
}

// interval95 is the 2.5th and 97.5th percentiles of xs (sorted in place).
func interval95(xs []float64) Interval {
	sort.Float64s(xs)
	at := func(q float64) float64 { return xs[min(int(q*float64(len(xs))), len(xs)-1)] }
	return Interval{Lo: at(0.025), Hi: at(0.975)}
}

func clampLevel(l int) int { return min(max(l, 0), 10) }

func (r *Report) calibrate(labeled []Prediction) {
	var sumP, sumY [10]float64
	var brier float64
	for _, p := range labeled {
		y := 0.0
		if p.Gold >= HighRiskLevel {
			y = 1
		}
		brier += (p.PHigh - y) * (p.PHigh - y)
		b := min(max(int(p.PHigh*10), 0), 9)
		r.Reliability[b].N++
		sumP[b] += p.PHigh
		sumY[b] += y
	}
	r.Brier = ratio64(brier, len(labeled))
	for b := range r.Reliability {
		c := &r.Reliability[b]
		c.Lo = float64(b) / 10
		if c.N == 0 {
			continue
		}
		c.MeanPHigh, c.HighShare = sumP[b]/float64(c.N), sumY[b]/float64(c.N)
		r.ECE += float64(c.N) / float64(len(labeled)) * math.Abs(c.MeanPHigh-c.HighShare)
	}
}

// levelScores is the precision, recall and F1 of each of the 11 levels
// from a confusion matrix ([gold][predicted]).
func levelScores(c *[11][11]int) [11]LevelScore {
	var out [11]LevelScore
	for l := 0; l <= 10; l++ {
		var tp, fp, fn int
		for q := 0; q <= 10; q++ {
			if q == l {
				tp += c[l][q]
			} else {
				fn += c[l][q]
				fp += c[q][l]
			}
		}
		p, r, f := prf(tp, fp, fn)
		out[l] = LevelScore{Support: tp + fn, Precision: p, Recall: r, F1: f}
	}
	return out
}

// binCounts tallies a binary decision (high risk or not) against the truth.
type binCounts struct{ tp, fp, fn int }

func (c *binCounts) add(truth, predicted bool) { c.addN(truth, predicted, 1) }

// addN tallies n posts of one truth and decision.
func (c *binCounts) addN(truth, predicted bool, n int) {
	switch {
	case truth && predicted:
		c.tp += n
	case !truth && predicted:
		c.fp += n
	case truth && !predicted:
		c.fn += n
	}
}

func (c binCounts) prf() (p, r, f float64) { return prf(c.tp, c.fp, c.fn) }

func prf(tp, fp, fn int) (p, r, f float64) {
	p, r = ratio(tp, tp+fp), ratio(tp, tp+fn)
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ratio64(a float64, b int) float64 {
	if b == 0 {
		return 0
	}
	return a / float64(b)
}

// Print writes the report as text.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "labeled posts            %d\n", r.N)
	fmt.Fprintf(w, "high risk (level>=6)     precision %.3f  recall %.3f  F1 %.3f\n", r.HighPrecision, r.HighRecall, r.HighF1)
	fmt.Fprintf(w, "levels 9-10 as high risk recall %.3f\n", r.Recall910)
	fmt.Fprintf(w, "graded 9-10 (emergency)  precision %.3f  recall %.3f\n", r.EmergencyPrecision, r.EmergencyRecall)
	fmt.Fprintf(w, "11-level                 accuracy %.3f  weighted F1 %.3f  MAE %.3f\n", r.Accuracy, r.WeightedF1, r.MAE)
	if r.N > 0 {
		fmt.Fprintf(w, "95%% bootstrap intervals  F1 %.3f-%.3f  recall 9-10 %.3f-%.3f  weighted F1 %.3f-%.3f  MAE %.3f-%.3f\n",
			r.HighF1Interval.Lo, r.HighF1Interval.Hi, r.Recall910Interval.Lo, r.Recall910Interval.Hi,
			r.WeightedF1Interval.Lo, r.WeightedF1Interval.Hi, r.MAEInterval.Lo, r.MAEInterval.Hi)
		fmt.Fprintf(w, "                         (the labeled posts resampled %d times: how far the figures move on other posts like these)\n", bootstrapRounds)
	}
	if r.NegN > 0 {
		fmt.Fprintf(w, "ordinary posts           %d, graded level>=6: %d (%.2f%%)\n", r.NegN, r.NegFlagged, 100*ratio(r.NegFlagged, r.NegN))
	}
	fmt.Fprintf(w, "\nconfusion (rows gold, columns predicted)\n      ")
	for q := 0; q <= 10; q++ {
		fmt.Fprintf(w, "%5d", q)
	}
	fmt.Fprintln(w)
	for g := 0; g <= 10; g++ {
		fmt.Fprintf(w, "%5d ", g)
		for q := 0; q <= 10; q++ {
			fmt.Fprintf(w, "%5d", r.Confusion[g][q])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nper level (weighted F1 weighs each F1 by its posts)\nlevel  posts  precision  recall     F1\n")
	for l, s := range r.Levels {
		fmt.Fprintf(w, "%5d  %5d  %9.3f  %6.3f  %5.3f\n", l, s.Support, s.Precision, s.Recall, s.F1)
	}
	fmt.Fprintf(w, "\np_high threshold  precision  recall  flags/10k ordinary\n")
	rows := append([]ThresholdRow(nil), r.Thresholds...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Threshold < rows[j].Threshold })
	for _, t := range rows {
		fmt.Fprintf(w, "%16.2f  %9.3f  %6.3f  %9.1f\n", t.Threshold, t.Precision, t.Recall, t.FlagsPer10k)
	}
	fmt.Fprintf(w, "\np_high calibration on the labeled posts: Brier %.3f, expected calibration error %.3f\n", r.Brier, r.ECE)
	fmt.Fprintf(w, "  p_high     posts  mean p_high  high risk\n")
	for _, c := range r.Reliability {
		if c.N == 0 {
			continue
		}
		fmt.Fprintf(w, "  %.1f-%.1f  %6d  %11.3f  %9.3f\n", c.Lo, c.Lo+0.1, c.N, c.MeanPHigh, c.HighShare)
	}
}

// Difference is one figure of a model and of a baseline on the same
// posts, and the 95% interval of their difference (model minus baseline)
// over paired resamples: both graded on the same resampled posts.
type Difference struct {
	Model, Baseline, Diff float64
	Interval              Interval
}

// Comparison is a model against a baseline on the same labeled posts.
type Comparison struct {
	N                                  int
	HighF1, Recall910, WeightedF1, MAE Difference
	Regraded                           int // posts graded at another level
	Reflagged                          int // posts whose high-risk decision differs
}

// Compare sets a model's predictions against a baseline's on the same
// posts (model[i] and baseline[i] grade the same post, with the same gold
// level). Whether a model is better than another on a sample is a question
// of the difference's interval, not of the two figures: the posts that are
// hard for one are mostly hard for the other, so the paired interval is
// much narrower than either figure's own.
func Compare(model, baseline []Prediction) (Comparison, error) {
	if len(model) != len(baseline) {
		return Comparison{}, fmt.Errorf("compare: %d predictions against %d", len(model), len(baseline))
	}
	c := Comparison{N: len(model)}
	var a, b Report
	for i := range model {
		if model[i].Gold != baseline[i].Gold {
			return Comparison{}, fmt.Errorf("compare: post %d has gold level %d against %d", i, model[i].Gold, baseline[i].Gold)
		}
		a.Confusion[clampLevel(model[i].Gold)][clampLevel(model[i].Level)]++
		b.Confusion[clampLevel(baseline[i].Gold)][clampLevel(baseline[i].Level)]++
		if model[i].Level != baseline[i].Level {
			c.Regraded++
		}
		if (model[i].Level >= HighRiskLevel) != (baseline[i].Level >= HighRiskLevel) {
			c.Reflagged++
		}
	}
	a.figures()
	b.figures()
	set := func(d *Difference, ma, ba float64) { *d = Difference{Model: ma, Baseline: ba, Diff: ma - ba} }
	set(&c.HighF1, a.HighF1, b.HighF1)
	set(&c.Recall910, a.Recall910, b.Recall910)
	set(&c.WeightedF1, a.WeightedF1, b.WeightedF1)
	set(&c.MAE, a.MAE, b.MAE)
	if len(model) == 0 {
		return c, nil
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var f1, r910, wf1, mae [bootstrapRounds]float64
	for k := range bootstrapRounds {
		var sa, sb Report
		for range model {
			i := rng.IntN(len(model))
			sa.Confusion[clampLevel(model[i].Gold)][clampLevel(model[i].Level)]++
			sb.Confusion[clampLevel(baseline[i].Gold)][clampLevel(baseline[i].Level)]++
		}
		sa.figures()
		sb.figures()
		f1[k], r910[k] = sa.HighF1-sb.HighF1, sa.Recall910-sb.Recall910
		wf1[k], mae[k] = sa.WeightedF1-sb.WeightedF1, sa.MAE-sb.MAE
	}
	c.HighF1.Interval, c.Recall910.Interval = interval95(f1[:]), interval95(r910[:])
	c.WeightedF1.Interval, c.MAE.Interval = interval95(wf1[:]), interval95(mae[:])
	return c, nil
}

// Print writes the comparison as text; model and baseline name the two.
func (c Comparison) Print(w io.Writer, model, baseline string) {
	fmt.Fprintf(w, "%s against %s on the same %d posts (%d paired resamples)\n", model, baseline, c.N, bootstrapRounds)
	fmt.Fprintf(w, "               %8s  %8s  %10s  %s\n", "model", "baseline", "difference", "95% interval of the difference")
	for _, row := range []struct {
		name string
		d    Difference
	}{{"high-risk F1", c.HighF1}, {"recall 9-10", c.Recall910}, {"weighted F1", c.WeightedF1}, {"MAE", c.MAE}} {
		fmt.Fprintf(w, "%-13s  %8.3f  %8.3f  %+10.3f  %+.3f to %+.3f\n", row.name, row.d.Model, row.d.Baseline, row.d.Diff, row.d.Interval.Lo, row.d.Interval.Hi)
	}
	fmt.Fprintf(w, "graded at another level: %d posts; high-risk decision changed: %d\n", c.Regraded, c.Reflagged)
}
