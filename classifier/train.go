package classifier

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
)

// Example is one training post: a labeled post (Level 0-10) or an ordinary
// post (Negative: unlabeled, assumed below high risk).
type Example struct {
	Text     string
	Level    int
	Negative bool
}

// TrainOptions configures Train. A zero number among the settings after
// Seed takes its value from DefaultTrainOptions (a zero seed is a seed).
type TrainOptions struct {
	Version   string
	VocabPath string // vocab.txt
	DictPath  string // segment-dict.txt
	Seed      uint64
	Epochs    int     // training epochs of the trained heads
	Rate      float64 // AdaGrad learning rate
	L2        float64 // L2 penalty of the trained heads, per update of a feature's weights
	NegWeight float64 // weight of an ordinary post in the high-risk head and the stackers' p_high
	// NegLevelWeight is the weight of an ordinary post (as level 0) in
	// the level head: they are not tree-hole comments.
	NegLevelWeight float64
	MinDF          int // a feature must occur in this many posts
	Folds          int // cross-validation folds for the stacker's out-of-fold logits
	// Weight910 is the weight of a level 9-10 post in the stacker's
	// high-risk output: missing one can be a death.
	Weight910 float64
	Log       io.Writer
}

// DefaultTrainOptions are the settings the committed model is trained
// with (models/HISTORY.md): the L2 penalty and the rate chosen by
// cross-validation over three seeds, the weights by measurement.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Seed: 1, Epochs: 12, Rate: 0.3, L2: 1e-4, NegWeight: 2, NegLevelWeight: 0.1,
		MinDF: 3, Folds: 5, Weight910: 2.5}
}

func (o *TrainOptions) defaults() {
	d := DefaultTrainOptions()
	if o.Epochs == 0 {
		o.Epochs = d.Epochs
	}
	if o.Rate == 0 {
		o.Rate = d.Rate
	}
	if o.L2 == 0 {
		o.L2 = d.L2
	}
	if o.NegWeight == 0 {
		o.NegWeight = d.NegWeight
	}
	if o.NegLevelWeight == 0 {
		o.NegLevelWeight = d.NegLevelWeight
	}
	if o.MinDF == 0 {
		o.MinDF = d.MinDF
	}
	if o.Weight910 == 0 {
		o.Weight910 = d.Weight910
	}
	if o.Folds == 0 {
		o.Folds = d.Folds
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

type trainDoc struct {
	feats    []int32
	clauses  []uint8 // the clause of each of feats, or noClause
	level    int
	negative bool
	rule     int
}

// Train fits the model deterministically (for a given seed and data):
// features are extracted, kept when frequent enough, the base heads
// trained with AdaGrad; the stacker (which gives p_high and the level) is
// fitted to the base heads' out-of-fold logits and the p_high threshold
// chosen on its out-of-fold outputs, never on logits of posts the base
// weights were fitted to.
func Train(examples []Example, opts TrainOptions) (*Model, error) {
	opts.defaults()
	if len(examples) == 0 {
		return nil, errors.New("train: no examples")
	}
	vb, err := os.ReadFile(opts.VocabPath)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	db, err := os.ReadFile(opts.DictPath)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	fz, err := loadFeaturizer(opts.VocabPath, opts.DictPath, "", "")
	if err != nil {
		return nil, err
	}
	m := newMatcher()
	// Extract features of every post.
	raw := make([][]uint64, len(examples))
	rawClauses := make([][]uint8, len(examples))
	rules := make([]int, len(examples))
	df := map[uint64]int{}
	s := &scratch{}
	for i, ex := range examples {
		normalize(ex.Text, &s.norm)
		s.hits, s.masks = m.find(s.norm.runes, s.hits, s.masks)
		fz.extract(s)
		rules[i] = ruleLevel(s.hits)
		raw[i] = append([]uint64(nil), s.feats...)
		rawClauses[i] = append([]uint8(nil), s.clauses...)
		for _, k := range s.feats {
			df[k]++
		}
	}
	keys := make([]uint64, 0, len(df))
	for k, n := range df {
		if n >= opts.MinDF {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	index := make(map[uint64]int32, len(keys))
	for i, k := range keys {
		index[k] = int32(i)
	}
	docs := make([]trainDoc, len(examples))
	nLabeled := 0
	for i, ex := range examples {
		d := trainDoc{level: ex.Level, negative: ex.Negative, rule: rules[i]}
		if !ex.Negative {
			nLabeled++
		}
		for f, k := range raw[i] {
			if j, ok := index[k]; ok {
				d.feats = append(d.feats, j)
				d.clauses = append(d.clauses, rawClauses[i][f])
			}
		}
		docs[i] = d
	}
	fmt.Fprintf(opts.Log, "features: %d kept of %d (min df %d); %d labeled, %d ordinary posts\n",
		len(keys), len(df), opts.MinDF, nLabeled, len(docs)-nLabeled)

	// Out-of-fold logits of the base heads, for the stacker and the threshold.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x10c0))
	fold := make([]int, len(docs))
	for i, p := range rng.Perm(len(docs)) {
		fold[p] = i % opts.Folds
	}
	oofZ := make([][stackDense]float64, len(docs))
	for k := 0; k < opts.Folds; k++ {
		var tr []int
		for i := range docs {
			if fold[i] != k {
				tr = append(tr, i)
			}
		}
		w := fit(docs, tr, len(keys), opts, opts.Seed+uint64(k)+1)
		for i := range docs {
			if fold[i] == k {
				oofZ[i] = logitsOf(w, &docs[i])
			}
		}
		fmt.Fprintf(opts.Log, "fold %d/%d trained\n", k+1, opts.Folds)
	}
	xs := make([][stackDim]float64, len(docs))
	for i := range docs {
		stackInput(&oofZ[i], docs[i].rule, &xs[i])
	}
	stackers := fitStackers(docs, xs, opts)
	pHigh := make([]float64, len(docs))
	var p [11]float64
	for i := range xs {
		pHigh[i] = stackers.grade(&xs[i], docs[i].rule, &p)
	}
	thr := chooseThreshold(docs, pHigh)
	fmt.Fprintf(opts.Log, "stacker fitted to out-of-fold logits; p_high threshold %.2f\n", thr)

	all := make([]int, len(docs))
	for i := range all {
		all[i] = i
	}
	w := fit(docs, all, len(keys), opts, opts.Seed)
	q, scale := quantize(w)
	model := &Model{Version: opts.Version, table: newWeightTable(keys, q), feat: fz, Meta: ModelMeta{
		Version: opts.Version, Seed: opts.Seed, Features: len(keys), TrainPosts: nLabeled,
		Negatives: len(docs) - nLabeled, Threshold: thr, Stackers: stackers, Quantization: scale,
		VocabSHA256: sha(vb), DictSHA256: sha(db),
	}}
	return model, nil
}

// logitsOf is Model.logits over float weights w of the kept features.
func logitsOf(w []float32, d *trainDoc) [stackDense]float64 {
	var z [stackDense]float64
	if len(d.feats) == 0 {
		return z
	}
	var cs clauseSums[float64]
	scale := 1 / math.Sqrt(float64(len(d.feats)))
	for i, f := range d.feats {
		row := w[int(f)*numHeads : (int(f)+1)*numHeads]
		for h, v := range row {
			z[h] += float64(v) * scale
		}
		addClause(&cs, d.clauses[i], row)
	}
	cs.maxima(1, &z)
	return z
}

// fit trains the heads on the docs listed in idx: the three trained
// heads with AdaGrad SGD, the naive Bayes heads by counting.
func fit(docs []trainDoc, idx []int, nFeat int, o TrainOptions, seed uint64) []float32 {
	w := make([]float32, nFeat*numHeads)
	g2 := make([]float32, nFeat*numHeads)
	rng := rand.New(rand.NewPCG(seed, 0xada))
	order := append([]int(nil), idx...)
	var z [numHeads]float64
	var grad [numHeads]float64
	var soft [11]float64
	for epoch := 0; epoch < o.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, di := range order {
			d := &docs[di]
			if len(d.feats) == 0 {
				continue
			}
			scale := 1 / math.Sqrt(float64(len(d.feats)))
			z = [numHeads]float64{}
			for _, f := range d.feats {
				for h := range nbHead { // the trained heads; the NB heads are counted after
					z[h] += float64(w[int(f)*numHeads+h]) * scale
				}
			}
			weight, levelWeight := 1.0, 1.0
			if d.negative {
				weight, levelWeight = o.NegWeight, o.NegLevelWeight
			}
			// High-risk head: logistic loss.
			y := 0.0
			if !d.negative && d.level >= HighRiskLevel {
				y = 1
			}
			grad[0] = weight * (sigmoid(z[0]) - y)
			// Level head: softmax cross-entropy (ordinary posts are level 0).
			softmax((*[11]float64)(z[softmaxHead:]), &soft)
			gold := d.level
			if d.negative {
				gold = 0
			}
			for l := 0; l <= 10; l++ {
				t := 0.0
				if l == gold {
					t = 1
				}
				grad[softmaxHead+l] = levelWeight * (soft[l] - t)
			}
			// Ordinal head: one logistic loss per "level >= k", so that
			// errors far from the gold level cost more than near ones.
			for k := 1; k <= 10; k++ {
				t := 0.0
				if gold >= k {
					t = 1
				}
				grad[ordinalHead+k] = levelWeight * (sigmoid(z[ordinalHead+k]) - t)
			}
			for _, f := range d.feats {
				for h := range nbHead {
					j := int(f)*numHeads + h
					g := grad[h]*scale + o.L2*float64(w[j])
					g2[j] += float32(g * g)
					w[j] -= float32(o.Rate * g / (math.Sqrt(float64(g2[j])) + 1e-8))
				}
			}
		}
	}
	nbWeights(docs, idx, nFeat, w)
	return w
}

// nbScale is the factor of the naive Bayes heads' weights (nbWeights).
const nbScale = 0.1

// nbSplits are the naive Bayes heads' questions: is the level at least
// k, against the labeled posts below k (and the ordinary posts, if
// ordinary).
var nbSplits = [numHeads - nbHead]struct {
	k        int
	ordinary bool
}{{HighRiskLevel, true}, {HighRiskLevel, false}, {9, false}, {3, false}}

// nbWeights sets the naive Bayes heads' weights: each feature's log-count
// ratio (Wang and Manning's NBSVM, Laplace-smoothed), times nbScale. The
// stacker learns each head's scale; the factor keeps the ratios well
// inside the trained weights' range, so that they do not coarsen the 16-bit
// quantisation all heads share.
func nbWeights(docs []trainDoc, idx []int, nFeat int, w []float32) {
	const alpha = 1.0
	a := alpha * float64(nFeat)
	pos := make([]float64, nFeat)
	neg := make([]float64, nFeat)
	for h, sp := range nbSplits {
		clear(pos)
		clear(neg)
		var nPos, nNeg float64
		for _, di := range idx {
			d := &docs[di]
			c, n := neg, &nNeg
			switch {
			case d.negative && !sp.ordinary:
				continue
			case !d.negative && d.level >= sp.k:
				c, n = pos, &nPos
			}
			for _, f := range d.feats {
				c[f]++
			}
			*n += float64(len(d.feats))
		}
		for f := range nFeat {
			r := math.Log((pos[f]+alpha)/(nPos+a)) - math.Log((neg[f]+alpha)/(nNeg+a))
			w[f*numHeads+nbHead+h] = float32(nbScale * r)
		}
	}
}

// chooseThreshold picks the p_high threshold that maximises F1 on the
// labeled posts while flagging at most 0.2% of the ordinary ones, from
// the stackers' p_high of the posts (built on out-of-fold base logits).
func chooseThreshold(docs []trainDoc, pHigh []float64) float64 {
	best, bestF1 := 0.5, -1.0
	for t := 0.05; t < 0.96; t += 0.01 {
		var counts binCounts
		var negFlag, neg int
		for i, d := range docs {
			p := pHigh[i]
			if d.negative {
				neg++
				if p >= t {
					negFlag++
				}
				continue
			}
			counts.add(d.level >= HighRiskLevel, p >= t)
		}
		if neg > 0 && float64(negFlag)/float64(neg) > 0.002 {
			continue
		}
		_, _, f := counts.prf()
		if f > bestF1 {
			best, bestF1 = t, f
		}
	}
	return best
}

// HeldOut reports whether an ordinary post belongs to the 20% kept out of
// training, so that false-alarm rates are measured on unseen posts. The
// split is by a hash of the text: stable across runs and machines.
func HeldOut(text string) bool {
	return hashString(0x5eed, text)%5 == 0
}
