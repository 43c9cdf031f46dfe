package classifier

import (
	"errors"
	"math"
)

// The stacker reads the base heads' logits and the rule level and
// decides p_high and the level; it is fitted to out-of-fold logits, so it
// learns how far to trust each head on posts the heads were not fitted to.
const stackDim = numHeads + 11 + 1 // logits, rule level one-hot, bias

// Stack holds the stacker's weights: one logistic output for high risk
// and an 11-way softmax for the level.
type Stack struct {
	High  []float64   `json:"high"`  // stackDim
	Level [][]float64 `json:"level"` // 11 x stackDim
}

// check reports whether a stacker read from a model file has its shape.
func (st *Stack) check() error {
	if st == nil {
		return errors.New("no stacker")
	}
	if len(st.High) != stackDim || len(st.Level) != 11 {
		return errors.New("stacker of the wrong shape")
	}
	for _, row := range st.Level {
		if len(row) != stackDim {
			return errors.New("stacker of the wrong shape")
		}
	}
	return nil
}

func stackInput(z *[numHeads]float64, rule int, x *[stackDim]float64) {
	copy(x[:numHeads], z[:])
	clear(x[numHeads:])
	x[numHeads+rule] = 1
	x[stackDim-1] = 1
}

func dot(w []float64, x *[stackDim]float64) float64 {
	s := 0.0
	for i, v := range w {
		s += v * x[i]
	}
	return s
}

// level grades within [lo, hi] by the stacker's level softmax: its
// likeliest level there. A post flagged by p_high whose level softmax
// puts most of its mass below high risk (the two outputs disagree: often
// a short post with one farewell or time word) is graded at the lowest
// high level rather than wherever the small mass above it peaks.
func (st *Stack) level(x *[stackDim]float64, lo, hi int) int {
	var p [11]float64
	st.levelProbs(x, &p)
	level := lo
	below := 0.0
	for l, pl := range p {
		if l >= lo && l <= hi && pl > p[level] {
			level = l
		}
		if l < HighRiskLevel {
			below += pl
		}
	}
	if lo == HighRiskLevel && below > 0.5 {
		return HighRiskLevel
	}
	return level
}

// levelProbs fills p with the stacker's level distribution.
func (st *Stack) levelProbs(x *[stackDim]float64, p *[11]float64) {
	var v [11]float64
	for l := range v {
		v[l] = dot(st.Level[l], x)
	}
	softmax(&v, p)
}

// fitStack fits the stacker to the inputs xs of the docs (built from
// out-of-fold logits) with full-batch Adam (convex, small: it converges in
// a few hundred steps).
func fitStack(docs []trainDoc, xs [][stackDim]float64, o TrainOptions) *Stack {
	const steps, rate, l2 = 400, 0.05, 1e-4
	st := &Stack{High: make([]float64, stackDim), Level: make([][]float64, 11)}
	for l := range st.Level {
		st.Level[l] = make([]float64, stackDim)
	}
	// High-risk output.
	highAdam := newAdam(stackDim)
	g := make([]float64, stackDim)
	for range steps {
		clear(g)
		var n float64
		for i, d := range docs {
			w, y := 1.0, 0.0
			if d.negative {
				w = o.NegWeight
			} else if d.level >= HighRiskLevel {
				y = 1
				if d.level >= 9 {
					w = o.Weight910
				}
			}
			e := w * (sigmoid(dot(st.High, &xs[i])) - y)
			for j := range g {
				g[j] += e * xs[i][j]
			}
			n += w
		}
		for j := range g {
			g[j] = g[j]/n + l2*st.High[j]
		}
		highAdam.step(st.High, g, rate)
	}
	// Level softmax: one Adam per level's row.
	adams := make([]*adam, 11)
	gl := make([][]float64, 11)
	for l := range adams {
		adams[l], gl[l] = newAdam(stackDim), make([]float64, stackDim)
	}
	var p [11]float64
	for range steps {
		for l := range gl {
			clear(gl[l])
		}
		var n float64
		for i, d := range docs {
			w, gold := 1.0, d.level
			if d.negative {
				w, gold = o.NegLevelWeight, 0
			}
			st.levelProbs(&xs[i], &p)
			for l, pl := range p {
				e := pl
				if l == gold {
					e--
				}
				e *= w
				for j := range gl[l] {
					gl[l][j] += e * xs[i][j]
				}
			}
			n += w
		}
		for l, row := range st.Level {
			for j := range row {
				gl[l][j] = gl[l][j]/n + l2*row[j]
			}
			adams[l].step(row, gl[l], rate)
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
