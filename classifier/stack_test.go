package classifier

import (
	"math/rand/v2"
	"testing"
)

// TestStackerLearnsWhatOneHeadMeansGivenAnother: high risk here is when
// two heads agree in sign (an interaction no weighted sum of the logits
// can express); the stacker's hidden units learn it, so it grades unseen
// posts right well beyond the chance a linear stacker would reach.
func TestStackerLearnsWhatOneHeadMeansGivenAnother(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sample := func(n int) ([]trainDoc, [][stackDim]float64) {
		docs := make([]trainDoc, n)
		xs := make([][stackDim]float64, n)
		for i := range docs {
			var z [stackDense]float64
			z[0], z[nbHead] = 4*rng.Float64()-2, 4*rng.Float64()-2
			docs[i].level = 1
			if z[0]*z[nbHead] > 0 {
				docs[i].level = 7
			}
			stackInput(&z, 0, &xs[i])
		}
		return docs, xs
	}
	docs, xs := sample(600)
	st := fitStack(docs, xs, TrainOptions{Seed: 1, NegWeight: 2, NegLevelWeight: 0.1, Weight910: 2.5}, 0)
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	test, txs := sample(400)
	var h [stackHidden]float64
	var p [11]float64
	right, levelRight := 0, 0
	for i, d := range test {
		st.hidden(&txs[i], 0, &h)
		high := sigmoid(st.highLogit(&txs[i], 0, &h)) >= 0.5
		if high == (d.level >= HighRiskLevel) {
			right++
		}
		st.levelProbs(&txs[i], 0, &h, &p)
		if levelIn(&p, 0, 10) == d.level {
			levelRight++
		}
	}
	if right < 360 || levelRight < 360 {
		t.Errorf("high risk right on %d of 400 unseen posts, level on %d; want 360 or more (chance is 200)", right, levelRight)
	}
}

// TestSeeYouMakesFarewellsEveryday: a meeting named ahead (明天公司见)
// turns the post's farewells into everyday ones, out of the rules and the
// features, unless it is denied (明天见不到我了).
func TestSeeYouMakesFarewellsEveryday(t *testing.T) {
	m := newMatcher()
	for text, want := range map[string]bool{
		"拜拜，明天公司见":    false,
		"拜拜啦，下周见～":    false,
		"再见了，明天见不到我了": true,
		"再见了，这个世界":    true,
	} {
		var n normalized
		normalize(text, &n)
		hits, masks := m.find(n.runes, nil, nil)
		farewellHit, farewellMasked := false, false
		for _, h := range hits {
			farewellHit = farewellHit || h.kind == KindFarewell
		}
		for _, mk := range masks {
			farewellMasked = farewellMasked || mk.start == 0 // the farewell opens each post
		}
		if farewellHit != want || farewellMasked == want {
			t.Errorf("%s: farewell found %v, masked %v; want found %v", text, farewellHit, farewellMasked, want)
		}
	}
}

// TestDrinkingQuestionsMaskCephalosporin: 头孢 asked about or warned of
// with alcohol (吃了头孢多久可以喝酒) is a mask that covers 头孢, so neither
// the rules nor the model read a method; 头孢 with alcohol as a plan
// (头孢配酒, 吃了头孢喝了酒) is still a method, and a question too far
// away or in another sentence masks nothing.
func TestDrinkingQuestionsMaskCephalosporin(t *testing.T) {
	m := newMatcher()
	for _, c := range []struct {
		text   string
		masked string // the mask's text, "" for none
		method bool
	}{
		{"吃头孢能喝酒吗", "头孢能喝酒吗", false},
		{"吃了头孢，多久可以喝酒？", "头孢,多久可以喝", false},
		{"医生说吃头孢期间千万不要喝酒", "头孢期间千万不要喝酒", false},
		{"昨天喝了酒，今天能吃头孢吗", "能吃头孢吗", false},
		{"头孢和酒不能一起吃，大家注意", "头孢和酒不能一起", false},
		{"头孢配酒，说走就走", "", true},
		{"吃了头孢喝了酒，再见了", "", true},
		{"吃了头孢。以后不要喝酒了", "", false},
		{"吃了两天头孢，嗓子好多了，今天晚上同学聚会不要喝酒", "", false},
	} {
		var n normalized
		normalize(c.text, &n)
		hits, masks := m.find(n.runes, nil, nil)
		masked := ""
		for _, mk := range masks {
			masked += string(n.runes[mk.start:mk.end])
		}
		method := false
		for _, h := range hits {
			method = method || h.kind == KindMethod
		}
		if masked != c.masked || method != c.method {
			t.Errorf("%s: masked %q, method %v; want %q, %v", c.text, masked, method, c.masked, c.method)
		}
	}
}

// TestLevelInIsTheMedian: within its range a post is graded at the median
// of the level distribution, not its likeliest level (a flat or two-humped
// distribution is graded between its humps, nearer the truth on average);
// a flagged post whose distribution lies mostly below high risk is graded 6.
func TestLevelInIsTheMedian(t *testing.T) {
	for _, c := range []struct {
		name   string
		p      map[int]float64
		lo, hi int
		want   int
	}{
		{"argmax 0, median 3", map[int]float64{0: 0.40, 3: 0.30, 4: 0.30}, 0, 5, 3},
		{"flat", map[int]float64{1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0.2}, 0, 5, 3},
		{"two humps in 6-10", map[int]float64{6: 0.3, 7: 0.05, 8: 0.05, 9: 0.3, 10: 0.3}, 6, 10, 9},
		{"one level", map[int]float64{10: 1}, 6, 10, 10},
		{"the range's own mass counts", map[int]float64{9: 0.9, 1: 0.05, 4: 0.05}, 0, 5, 1},
		{"flagged, mass below 6", map[int]float64{2: 0.7, 9: 0.1, 10: 0.2}, 6, 10, 6},
	} {
		var p [11]float64
		for l, v := range c.p {
			p[l] = v
		}
		if got := levelIn(&p, c.lo, c.hi); got != c.want {
			t.Errorf("%s: levelIn(%v, %d, %d) = %d, want %d", c.name, p, c.lo, c.hi, got, c.want)
		}
	}
}
