package classifier

import (
	"errors"
	"fmt"
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
		return fmt.Errorf("stacker of the wrong shape")
	}
	for _, row := range st.Level {
		if len(row) != stackDim {
			return fmt.Errorf("stacker of the wrong shape")
		}
	}
	return nil
}

func stackInput(z *[numHeads]float64, rule int, x *[stackDim]float64) {
	copy(x[:numHeads], z[:])
	for i := numHeads; i < stackDim; i++ {
		x[i] = 0
	}
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
	var v [11]float64
	maxV := math.Inf(-1)
	for l := range v {
		v[l] = dot(st.Level[l], x)
		maxV = math.Max(maxV, v[l])
	}
	level := lo
	var below, above float64
	for l := range v {
		if l >= lo && l <= hi && v[l] > v[level] {
			level = l
		}
		if e := math.Exp(v[l] - maxV); l < HighRiskLevel {
			below += e
		} else {
			above += e
		}
	}
	if lo == HighRiskLevel && below > above {
		return HighRiskLevel
	}
	return level
}

// fitStack fits the stacker to out-of-fold logits with full-batch Adam
// (convex, small: it converges in a few hundred steps).
func fitStack(docs []trainDoc, oofZ [][numHeads]float64, o TrainOptions) *Stack {
	xs := make([][stackDim]float64, len(docs))
	for i := range docs {
		stackInput(&oofZ[i], docs[i].rule, &xs[i])
	}
	const steps, rate, l2 = 400, 0.05, 1e-4
	st := &Stack{High: make([]float64, stackDim), Level: make([][]float64, 11)}
	for l := range st.Level {
		st.Level[l] = make([]float64, stackDim)
	}
	// High-risk output.
	adam := newAdam(stackDim)
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
		adam.step(st.High, g, rate)
	}
	// Level softmax.
	flat := make([]float64, 11*stackDim)
	gl := make([]float64, 11*stackDim)
	adamL := newAdam(len(flat))
	var p [11]float64
	for range steps {
		clear(gl)
		var n float64
		for i, d := range docs {
			w, gold := 1.0, d.level
			if d.negative {
				w, gold = o.NegLevelWeight, 0
			}
			maxV := math.Inf(-1)
			for l := range 11 {
				p[l] = 0
				for j := range stackDim {
					p[l] += flat[l*stackDim+j] * xs[i][j]
				}
				maxV = math.Max(maxV, p[l])
			}
			sum := 0.0
			for l := range 11 {
				p[l] = math.Exp(p[l] - maxV)
				sum += p[l]
			}
			for l := range 11 {
				e := p[l] / sum
				if l == gold {
					e--
				}
				e *= w
				for j := range stackDim {
					gl[l*stackDim+j] += e * xs[i][j]
				}
			}
			n += w
		}
		for j := range gl {
			gl[j] = gl[j]/n + l2*flat[j]
		}
		adamL.step(flat, gl, rate)
	}
	for l := range 11 {
		copy(st.Level[l], flat[l*stackDim:(l+1)*stackDim])
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
