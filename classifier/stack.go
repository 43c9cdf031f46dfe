package classifier

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// The stacker reads the base heads' logits, the clause maxima of four of
// them and the rule level and decides p_high and the level; it is fitted
// to out-of-fold logits, so it learns how far to trust each head on posts
// the heads were not fitted to.
const (
	stackDense   = numHeads + numClauseHeads // logits, clause maxima
	stackDim     = stackDense + 11 + 1       // and rule level one-hot, bias
	stackHidden  = 16                        // tanh units of one stacker
	stackMembers = 3                         // stackers fitted from different starting weights, averaged
)

// Stack holds one stacker's weights: a logistic output for high risk and
// an 11-way softmax for the level, each reading the inputs and a layer of
// tanh units over them. The units let it weigh a head by what the others
// say (a weighted sum cannot); being bounded, they cannot push a post
// with extreme logits further than the inputs' own weights do.
type Stack struct {
	High   []float64   `json:"high"`    // stackDim
	Level  [][]float64 `json:"level"`   // 11 x stackDim
	Hidden [][]float64 `json:"hidden"`  // stackHidden x stackDim
	HighH  []float64   `json:"high_h"`  // stackHidden
	LevelH [][]float64 `json:"level_h"` // 11 x stackHidden
}

// Stackers are the members of the stacking layer. A network fitted from
// other starting weights grades some posts differently (on the validation
// set, weighted F1 moved by 0.03 between starts); the members' average
// does not depend on one start.
type Stackers []*Stack

// check reports whether stackers read from a model file have their shape.
func (ss Stackers) check() error {
	if len(ss) != stackMembers {
		return fmt.Errorf("%d stackers, want %d", len(ss), stackMembers)
	}
	for _, st := range ss {
		if err := st.check(); err != nil {
			return err
		}
	}
	return nil
}

// grade returns the members' mean p_high and fills p with their mean
// level distribution, for the input x that stackInput built with rule
// level rule.
func (ss Stackers) grade(x *[stackDim]float64, rule int, p *[11]float64) float64 {
	var h [stackHidden]float64
	var q [11]float64
	clear(p[:])
	pHigh := 0.0
	for _, st := range ss {
		st.hidden(x, rule, &h)
		pHigh += sigmoid(st.highLogit(x, rule, &h))
		st.levelProbs(x, rule, &h, &q)
		for l, v := range q {
			p[l] += v
		}
	}
	n := float64(len(ss))
	for l := range p {
		p[l] /= n
	}
	return pHigh / n
}

// check reports whether a stacker read from a model file has its shape.
func (st *Stack) check() error {
	if st == nil {
		return errors.New("no stacker")
	}
	rows := func(m [][]float64, n, width int) bool {
		if len(m) != n {
			return false
		}
		for _, r := range m {
			if len(r) != width {
				return false
			}
		}
		return true
	}
	if len(st.High) != stackDim || !rows(st.Level, 11, stackDim) ||
		!rows(st.Hidden, stackHidden, stackDim) || len(st.HighH) != stackHidden ||
		!rows(st.LevelH, 11, stackHidden) {
		return errors.New("stacker of the wrong shape")
	}
	return nil
}

func stackInput(z *[stackDense]float64, rule int, x *[stackDim]float64) {
	copy(x[:stackDense], z[:])
	clear(x[stackDense:])
	x[stackDense+rule] = 1
	x[stackDim-1] = 1
}

// dotIn is the dot product of w with an input built by stackInput with
// rule level rule, reading only the entries that are not zero, in four
// running sums (one
// sum waits on each addition; four keep the core busy: the stackers are
// a tenth of scoring a short post).
func dotIn(w []float64, x *[stackDim]float64, rule int) float64 {
	w = w[:stackDim]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= stackDense; i += 4 {
		s0 += w[i] * x[i]
		s1 += w[i+1] * x[i+1]
		s2 += w[i+2] * x[i+2]
		s3 += w[i+3] * x[i+3]
	}
	for ; i < stackDense; i++ {
		s0 += w[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3) + w[stackDense+rule] + w[stackDim-1]
}

// dotH is the dot product of w with the units h, in four running sums.
func dotH(w []float64, h *[stackHidden]float64) float64 {
	w = w[:stackHidden]
	var s0, s1, s2, s3 float64
	for i := 0; i < stackHidden; i += 4 {
		s0 += w[i] * h[i]
		s1 += w[i+1] * h[i+1]
		s2 += w[i+2] * h[i+2]
		s3 += w[i+3] * h[i+3]
	}
	return (s0 + s1) + (s2 + s3)
}

// hidden fills h with the tanh units' values for input x.
func (st *Stack) hidden(x *[stackDim]float64, rule int, h *[stackHidden]float64) {
	for k, row := range st.Hidden {
		h[k] = math.Tanh(dotIn(row, x, rule))
	}
}

// highLogit is the logit of p_high for input x with units h.
func (st *Stack) highLogit(x *[stackDim]float64, rule int, h *[stackHidden]float64) float64 {
	return dotIn(st.High, x, rule) + dotH(st.HighH, h)
}

// levelProbs fills p with the stacker's level distribution.
func (st *Stack) levelProbs(x *[stackDim]float64, rule int, h *[stackHidden]float64, p *[11]float64) {
	var v [11]float64
	for l := range v {
		v[l] = dotIn(st.Level[l], x, rule) + dotH(st.LevelH[l], h)
	}
	softmax(&v, p)
}

// levelIn grades within [lo, hi] by a level distribution p: its median
// level there (the first level at which the mass from lo on reaches half
// the mass in [lo, hi]), which minimises the expected distance to the
// true level: the scale is ordered, and grading a level 8 post 9 is
// better than grading it 6. Its likeliest level instead (the argmax)
// read weighted F1 0.460 and MAE 1.21 in cross-validation against 0.471
// and 1.16, the difference all within 6-10, where a post's distribution
// is often split between 6 and 9-10 (models/HISTORY.md). A post flagged
// by p_high whose level distribution puts most of its mass below high
// risk (the two outputs disagree: often a short post with one farewell
// or time word) is graded at the lowest high level.
func levelIn(p *[11]float64, lo, hi int) int {
	in, below := 0.0, 0.0
	for l, pl := range p {
		if l >= lo && l <= hi {
			in += pl
		}
		if l < HighRiskLevel {
			below += pl
		}
	}
	if lo == HighRiskLevel && below > 0.5 {
		return HighRiskLevel
	}
	acc := 0.0
	for l := lo; l < hi; l++ {
		acc += p[l]
		if acc >= in/2 {
			return l
		}
	}
	return hi
}

// fitStackers fits the members, each from its own seeded start, at once.
func fitStackers(docs []trainDoc, xs [][stackDim]float64, o TrainOptions) Stackers {
	ss := make(Stackers, stackMembers)
	var wg sync.WaitGroup
	for m := range ss {
		wg.Go(func() { ss[m] = fitStack(docs, xs, o, uint64(m)) })
	}
	wg.Wait()
	return ss
}

// fitStack fits one stacker to the inputs xs of the docs (built from
// out-of-fold logits): both outputs and the units together, by full-batch
// Adam on the sum of the two losses, each averaged over its own weights.
// The units start small and random (seeded by the seed and member) and
// are held down by a stronger penalty than the outputs' direct weights.
func fitStack(docs []trainDoc, xs [][stackDim]float64, o TrainOptions, member uint64) *Stack {
	const steps, rate, l2, l2Hidden = 600, 0.05, 1e-4, 1e-3
	st := &Stack{High: make([]float64, stackDim), Level: make([][]float64, 11),
		Hidden: make([][]float64, stackHidden), HighH: make([]float64, stackHidden), LevelH: make([][]float64, 11)}
	// The units are fitted on standardised logits (the heads' scales
	// differ tenfold); the scaling is folded into their weights at the end.
	var mean, scale [stackDense]float64
	n := float64(len(xs))
	for j := range stackDense {
		var m, v float64
		for i := range xs {
			m += xs[i][j]
		}
		m /= n
		for i := range xs {
			v += (xs[i][j] - m) * (xs[i][j] - m)
		}
		mean[j], scale[j] = m, 1/math.Sqrt(v/n+1e-9)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5ac+member))
	for k := range st.Hidden {
		st.Hidden[k] = make([]float64, stackDim)
		for j := range st.Hidden[k] {
			st.Hidden[k][j] = 0.3 * rng.NormFloat64()
		}
	}
	for l := range st.Level {
		st.Level[l] = make([]float64, stackDim)
		st.LevelH[l] = make([]float64, stackHidden)
	}
	// Every weight row with its gradient, Adam state, penalty and the
	// total weight its loss is averaged over.
	type param struct {
		w, g []float64
		a    *adam
		l2   float64
		n    *float64
	}
	var nHigh, nLevel, nBoth float64
	var params []param
	add := func(w []float64, pen float64, n *float64) []float64 {
		g := make([]float64, len(w))
		params = append(params, param{w: w, g: g, a: newAdam(len(w)), l2: pen, n: n})
		return g
	}
	gHigh, gHighH := add(st.High, l2, &nHigh), add(st.HighH, l2Hidden, &nHigh)
	gLevel, gLevelH, gHidden := make([][]float64, 11), make([][]float64, 11), make([][]float64, stackHidden)
	for l := range st.Level {
		gLevel[l], gLevelH[l] = add(st.Level[l], l2, &nLevel), add(st.LevelH[l], l2Hidden, &nLevel)
	}
	for k := range st.Hidden {
		gHidden[k] = add(st.Hidden[k], l2Hidden, &nBoth)
	}
	std := make([][stackDim]float64, len(xs))
	for i := range xs {
		std[i] = xs[i]
		for j := range stackDense {
			std[i][j] = (xs[i][j] - mean[j]) * scale[j]
		}
	}
	var h, dh [stackHidden]float64
	var p [11]float64
	for range steps {
		for _, pr := range params {
			clear(pr.g)
		}
		nHigh, nLevel = 0, 0
		for i, d := range docs {
			for k, row := range st.Hidden {
				h[k] = math.Tanh(dotIn(row, &std[i], d.rule))
			}
			clear(dh[:])
			// High-risk output: level 9-10 posts weigh Weight910.
			w, y := 1.0, 0.0
			if d.negative {
				w = o.NegWeight
			} else if d.level >= HighRiskLevel {
				y = 1
				if d.level >= 9 {
					w = o.Weight910
				}
			}
			e := w * (sigmoid(st.highLogit(&xs[i], d.rule, &h)) - y)
			for j := range gHigh {
				gHigh[j] += e * xs[i][j]
			}
			for k := range gHighH {
				gHighH[k] += e * h[k]
				dh[k] += e * st.HighH[k]
			}
			nHigh += w
			// Level output: ordinary posts as level 0, weight NegLevelWeight.
			w, gold := 1.0, d.level
			if d.negative {
				w, gold = o.NegLevelWeight, 0
			}
			st.levelProbs(&xs[i], d.rule, &h, &p)
			for l, pl := range p {
				e := pl
				if l == gold {
					e--
				}
				e *= w
				for j := range gLevel[l] {
					gLevel[l][j] += e * xs[i][j]
				}
				for k := range gLevelH[l] {
					gLevelH[l][k] += e * h[k]
					dh[k] += e * st.LevelH[l][k]
				}
			}
			nLevel += w
			for k, d := range dh {
				d *= 1 - h[k]*h[k]
				for j := range gHidden[k] {
					gHidden[k][j] += d * std[i][j]
				}
			}
		}
		nBoth = (nHigh + nLevel) / 2
		for _, pr := range params {
			for j := range pr.g {
				pr.g[j] = pr.g[j]/(*pr.n) + pr.l2*pr.w[j]
			}
			pr.a.step(pr.w, pr.g, rate)
		}
	}
	// Fold the standardisation into the units' weights: w·((x-m)·s) =
	// (w·s)·x - Σ w·s·m, the last term onto the bias input.
	for _, row := range st.Hidden {
		for j := range stackDense {
			row[j] *= scale[j]
			row[stackDim-1] -= row[j] * mean[j]
		}
	}
	return st
}

type adam struct {
	m, v []float64
	t    int
}

func newAdam(n int) *adam { return &adam{m: make([]float64, n), v: make([]float64, n)} }

func (a *adam) step(w, g []float64, rate float64) {
	a.t++
	const b1, b2 = 0.9, 0.999
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for j := range w {
		a.m[j] = b1*a.m[j] + (1-b1)*g[j]
		a.v[j] = b2*a.v[j] + (1-b2)*g[j]*g[j]
		w[j] -= rate * (a.m[j] / c1) / (math.Sqrt(a.v[j]/c2) + 1e-8)
	}
}
