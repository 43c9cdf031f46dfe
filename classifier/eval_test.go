package classifier

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestEvaluateByHand: every figure of lookout eval on six labeled and
// three ordinary posts, against values computed by hand.
func TestEvaluateByHand(t *testing.T) {
	labeled := []Prediction{
		{Gold: 9, Level: 8, PHigh: 0.95},  // high risk found
		{Gold: 10, Level: 3, PHigh: 0.15}, // a level 10 missed
		{Gold: 6, Level: 6, PHigh: 0.65},  // found, exact
		{Gold: 2, Level: 7, PHigh: 0.72},  // false alarm
		{Gold: 0, Level: 0, PHigh: 0.02},  // exact
		{Gold: 4, Level: 5, PHigh: 0.35},
	}
	negatives := []Prediction{{Level: 0, PHigh: 0.01}, {Level: 6, PHigh: 0.55}, {Level: 1, PHigh: 0.31}}
	r := Evaluate(labeled, negatives)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"precision", r.HighPrecision, 2.0 / 3}, {"recall", r.HighRecall, 2.0 / 3}, {"F1", r.HighF1, 2.0 / 3},
		{"recall 9-10", r.Recall910, 0.5},
		{"accuracy", r.Accuracy, 2.0 / 6},
		{"MAE", r.MAE, 14.0 / 6},
		// Levels 0 and 6 are right (F1 1), the other four gold levels have
		// no hit (F1 0); each has one post.
		{"weighted F1", r.WeightedF1, 2.0 / 6},
		{"Brier", r.Brier, (0.0025 + 0.7225 + 0.1225 + 0.5184 + 0.0004 + 0.1225) / 6},
		// One post a bin: the mean gap between p_high and the truth.
		{"ECE", r.ECE, (0.05 + 0.85 + 0.35 + 0.72 + 0.02 + 0.35) / 6},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.N != 6 || r.NegN != 3 || r.NegFlagged != 1 || r.Confusion[10][3] != 1 || r.Confusion[2][7] != 1 {
		t.Errorf("counts: %d labeled, %d/%d ordinary flagged, confusion %v", r.N, r.NegFlagged, r.NegN, r.Confusion)
	}
	// Level 7: one post graded 7 (gold 2), none at gold 7. Level 2: one
	// post, graded 7. Level 6: one post, graded 6, and nothing else graded 6.
	for l, want := range map[int]LevelScore{
		7: {Support: 0, Precision: 0, Recall: 0, F1: 0},
		2: {Support: 1, Precision: 0, Recall: 0, F1: 0},
		6: {Support: 1, Precision: 1, Recall: 1, F1: 1},
		0: {Support: 1, Precision: 1, Recall: 1, F1: 1},
		5: {Support: 0},
	} {
		if r.Levels[l] != want {
			t.Errorf("level %d: %+v, want %+v", l, r.Levels[l], want)
		}
	}
	if r := Evaluate([]Prediction{{Gold: 3, Level: 3}, {Gold: 3, Level: 4}, {Gold: 4, Level: 3}, {Gold: 4, Level: 4}, {Gold: 4, Level: 4}}, nil); !near(r.Levels[3].Precision, 0.5) ||
		!near(r.Levels[3].Recall, 0.5) || !near(r.Levels[4].Precision, 2.0/3) || !near(r.Levels[4].Recall, 2.0/3) ||
		!near(r.WeightedF1, (2*0.5+3*2.0/3)/5) {
		t.Errorf("levels 3 and 4: %+v %+v, weighted F1 %v", r.Levels[3], r.Levels[4], r.WeightedF1)
	}
	// The emergency route: 9 graded 10 (right), 7 graded 9 (a false
	// emergency), 10 graded 6 (high risk, not an emergency).
	if r := Evaluate([]Prediction{{Gold: 9, Level: 10}, {Gold: 7, Level: 9}, {Gold: 10, Level: 6}, {Gold: 3, Level: 3}}, nil); !near(r.EmergencyPrecision, 0.5) || !near(r.EmergencyRecall, 0.5) || !near(r.Recall910, 1) {
		t.Errorf("emergency: precision %v, recall %v, recall 9-10 as high risk %v", r.EmergencyPrecision, r.EmergencyRecall, r.Recall910)
	}
	for _, row := range r.Thresholds {
		switch row.Threshold {
		case 0.3: // 0.95 0.65 right, 0.72 0.35 wrong, 0.15 missed; two of three ordinary
			if !near(row.Precision, 0.5) || !near(row.Recall, 2.0/3) || !near(row.FlagsPer10k, 20000.0/3) {
				t.Errorf("threshold 0.3: %+v", row)
			}
		case 0.7: // 0.95 right, 0.72 wrong, 0.65 and 0.15 missed; no ordinary
			if !near(row.Precision, 0.5) || !near(row.Recall, 1.0/3) || row.FlagsPer10k != 0 {
				t.Errorf("threshold 0.7: %+v", row)
			}
		}
	}
	for b, n := range []int{1, 1, 0, 1, 0, 0, 1, 1, 0, 1} {
		if c := r.Reliability[b]; c.N != n || !near(c.Lo, float64(b)/10) {
			t.Errorf("calibration bin %d: %+v, want %d posts", b, c, n)
		}
	}
	if c := r.Reliability[7]; !near(c.MeanPHigh, 0.72) || c.HighShare != 0 {
		t.Errorf("bin 0.7: %+v", c)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"precision 0.667", "recall 0.500", "MAE 2.333", "Brier 0.248", "0.9-1.0       1        0.950      1.000",
		"    6      1      1.000   1.000  1.000", "    2      1      0.000   0.000  0.000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, out.String())
		}
	}
	// p_high of exactly 1 falls in the last bin.
	if r := Evaluate([]Prediction{{Gold: 7, Level: 7, PHigh: 1}}, nil); r.Reliability[9].N != 1 || r.Brier != 0 || r.ECE != 0 {
		t.Errorf("p_high 1: %+v", r.Reliability[9])
	}
}

// gradedTwice is 330 posts, 30 at each level, graded perfectly and graded
// with every third post one level up (a level 10 one down).
func gradedTwice() (perfect, noisy []Prediction) {
	for i := range 330 {
		g := i % 11
		perfect = append(perfect, Prediction{Gold: g, Level: g})
		l := g
		if i%3 == 0 {
			l = g + 1
			if g == 10 {
				l = 9
			}
		}
		noisy = append(noisy, Prediction{Gold: g, Level: l})
	}
	return perfect, noisy
}

// TestBootstrapIntervals: the intervals are exact for a perfect grader,
// hold the figure for an imperfect one, are the same from one run to the
// next (a fixed seed), and narrow as the posts grow (four times as many
// posts: about half as wide).
func TestBootstrapIntervals(t *testing.T) {
	perfect, noisy := gradedTwice()
	r := Evaluate(perfect, nil)
	for name, iv := range map[string]Interval{"F1": r.HighF1Interval, "recall 9-10": r.Recall910Interval, "weighted F1": r.WeightedF1Interval} {
		if iv != (Interval{1, 1}) {
			t.Errorf("perfect grading: %s interval %v, want [1, 1]", name, iv)
		}
	}
	if r.MAEInterval != (Interval{0, 0}) {
		t.Errorf("perfect grading: MAE interval %v, want [0, 0]", r.MAEInterval)
	}

	r = Evaluate(noisy, nil)
	for _, c := range []struct {
		name  string
		point float64
		iv    Interval
	}{
		{"F1", r.HighF1, r.HighF1Interval}, {"weighted F1", r.WeightedF1, r.WeightedF1Interval}, {"MAE", r.MAE, r.MAEInterval},
	} {
		if !(c.iv.Lo < c.point && c.point < c.iv.Hi) {
			t.Errorf("%s %v outside its interval %v", c.name, c.point, c.iv)
		}
	}
	if again := Evaluate(noisy, nil); again.HighF1Interval != r.HighF1Interval || again.MAEInterval != r.MAEInterval {
		t.Errorf("intervals differ between runs: %v %v, then %v %v", r.HighF1Interval, r.MAEInterval, again.HighF1Interval, again.MAEInterval)
	}
	var more []Prediction
	for range 4 {
		more = append(more, noisy...)
	}
	big := Evaluate(more, nil)
	w, wBig := r.WeightedF1Interval.Hi-r.WeightedF1Interval.Lo, big.WeightedF1Interval.Hi-big.WeightedF1Interval.Lo
	if !near(big.WeightedF1, r.WeightedF1) || wBig > 0.7*w || wBig < 0.3*w {
		t.Errorf("four times the posts: weighted F1 interval %.3f wide, against %.3f (want about half)", wBig, w)
	}
	if r := Evaluate(nil, nil); r.HighF1Interval != (Interval{}) {
		t.Errorf("no posts: interval %v", r.HighF1Interval)
	}
}

// TestCompare: a model against a baseline on the same posts. Against
// itself every difference is 0 with a [0, 0] interval; a perfect grader
// against one that grades a third of the posts a level off is better on
// weighted F1 and MAE with intervals that exclude 0, and the posts graded
// differently are counted. Predictions of different posts are refused.
func TestCompare(t *testing.T) {
	perfect, noisy := gradedTwice()
	same, err := Compare(noisy, noisy)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Difference{same.HighF1, same.Recall910, same.WeightedF1, same.MAE} {
		if d.Diff != 0 || d.Interval != (Interval{}) || d.Model != d.Baseline {
			t.Errorf("against itself: %+v", d)
		}
	}
	if same.Regraded != 0 || same.Reflagged != 0 {
		t.Errorf("against itself: %d regraded, %d reflagged", same.Regraded, same.Reflagged)
	}
	c, err := Compare(perfect, noisy)
	if err != nil {
		t.Fatal(err)
	}
	if !(c.WeightedF1.Diff > 0 && c.WeightedF1.Interval.Lo > 0 && c.WeightedF1.Interval.Hi >= c.WeightedF1.Diff) {
		t.Errorf("weighted F1: %+v, want a gain whose interval excludes 0", c.WeightedF1)
	}
	if !near(c.MAE.Diff, -1.0/3) || !(c.MAE.Interval.Hi < 0) {
		t.Errorf("MAE: %+v, want -1/3 with an interval below 0", c.MAE)
	}
	// Every third post is off: 110. Its high-risk decision changes only
	// where a level 5 post is graded 6 (a 6 graded 7 and a 10 graded 9
	// stay high risk).
	if c.Regraded != 110 || c.Reflagged != 10 {
		t.Errorf("regraded %d (want 110), reflagged %d (want 10: the level 5 posts graded 6)", c.Regraded, c.Reflagged)
	}
	if _, err := Compare(perfect, noisy[1:]); err == nil {
		t.Error("different lengths: no error")
	}
	other := slices.Clone(noisy)
	other[3].Gold = 4
	if _, err := Compare(perfect, other); err == nil {
		t.Error("different gold levels: no error")
	}
}
