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
	r := tally(labeled)
	r.N, r.NegN = len(labeled), len(negatives)
	for _, p := range negatives {
		if p.Level >= HighRiskLevel {
			r.NegFlagged++
		}
	}
	if len(labeled) > 0 {
		iv := bootstrap(labeled, nil)
		r.HighF1Interval, r.Recall910Interval, r.WeightedF1Interval, r.MAEInterval = iv[0], iv[1], iv[2], iv[3]
	}
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
	var n, g910hit, correct, absErr int
	for g := range 11 {
		for q := range 11 {
			c := r.Confusion[g][q]
			if c == 0 {
				continue
			}
			n += c
			high.addN(g >= HighRiskLevel, q >= HighRiskLevel, c)
			emergency.addN(g >= emergencyLevel, q >= emergencyLevel, c)
			if g >= emergencyLevel && q >= HighRiskLevel {
				g910hit += c
			}
			if g == q {
				correct += c
			}
			absErr += c * max(g-q, q-g)
		}
	}
	r.HighPrecision, r.HighRecall, r.HighF1 = high.prf()
	r.Recall910 = ratio(g910hit, emergency.tp+emergency.fn) // of the posts at 9-10
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

// tally is the confusion matrix of predictions and the figures derived
// from it.
func tally(preds []Prediction) Report {
	var r Report
	for _, p := range preds {
		r.count(p)
	}
	r.figures()
	return r
}

func (r *Report) count(p Prediction) { r.Confusion[clampLevel(p.Gold)][clampLevel(p.Level)]++ }

// headline is the four figures given intervals: high-risk F1, recall of
// 9-10, weighted F1 and MAE.
func (r *Report) headline() [4]float64 {
	return [4]float64{r.HighF1, r.Recall910, r.WeightedF1, r.MAE}
}

// bootstrapRounds is how many resamples of the labeled posts the
// intervals are taken over.
const bootstrapRounds = 1000

// bootstrap is the 95% intervals of the headline figures of model over
// its posts resampled with replacement bootstrapRounds times, from a fixed
// seed so that the same predictions give the same intervals; with a
// baseline (the same posts, graded by another model), of model's figures
// minus baseline's on the same resampled posts.
func bootstrap(model, baseline []Prediction) [4]Interval {
	rng := rand.New(rand.NewPCG(1, 1))
	var samples [4][bootstrapRounds]float64
	for k := range bootstrapRounds {
		var a, b Report
		for range model {
			i := rng.IntN(len(model))
			a.count(model[i])
			if baseline != nil {
				b.count(baseline[i])
			}
		}
		a.figures()
		h := a.headline()
		if baseline != nil {
			b.figures()
			hb := b.headline()
			for j := range h {
				h[j] -= hb[j]
			}
		}
		for j := range h {
			samples[j][k] = h[j]
		}
	}
	var out [4]Interval
	for j := range out {
		out[j] = interval95(samples[j][:])
	}
	return out
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
	for i := range model {
		if model[i].Gold != baseline[i].Gold {
			return Comparison{}, fmt.Errorf("compare: post %d has gold level %d against %d", i, model[i].Gold, baseline[i].Gold)
		}
		if model[i].Level != baseline[i].Level {
			c.Regraded++
		}
		if (model[i].Level >= HighRiskLevel) != (baseline[i].Level >= HighRiskLevel) {
			c.Reflagged++
		}
	}
	a, b := tally(model), tally(baseline)
	ha, hb := a.headline(), b.headline()
	var iv [4]Interval
	if len(model) > 0 {
		iv = bootstrap(model, baseline)
	}
	for j, d := range []*Difference{&c.HighF1, &c.Recall910, &c.WeightedF1, &c.MAE} {
		*d = Difference{Model: ha[j], Baseline: hb[j], Diff: ha[j] - hb[j], Interval: iv[j]}
	}
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
