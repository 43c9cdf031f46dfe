package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"lookout/classifier"
)

// cmdTrain trains the risk model from JSON Lines and writes it to models/.
func cmdTrain(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var (
		train, val, negatives, out, version string
		cardPath                            string
		cv                                  int
		fraction                            float64
		opts                                = classifier.DefaultTrainOptions()
	)
	fs := newFlagSet("train", stderr)
	fs.StringVar(&train, "train", "../shared/data/sos4k/train.jsonl", "labeled posts (text, level 0-10), comma-separated files")
	fs.StringVar(&val, "val", "../shared/data/sos4k/val.jsonl", "labeled posts to report figures on after training (not used to fit)")
	fs.StringVar(&negatives, "negatives", "../shared/data/ewect/posts.jsonl,../shared/data/weibo_random/posts.jsonl",
		"ordinary posts (text), comma-separated; 80% train, a fixed 20% is held out for the false-alarm figures")
	fs.StringVar(&out, "out", "models/risk.model", "model file to write; vocab.txt and segment-dict.txt must be beside it")
	fs.StringVar(&version, "version", "", "model version (default: risk-YYYYMMDD)")
	fs.StringVar(&cardPath, "card", "", "model card to write this run's record into: the model's hash, the data's hashes and counts, the settings and the figures (default README.md beside --out; \"none\" for no card)")
	fs.Uint64Var(&opts.Seed, "seed", opts.Seed, "random seed; the same seed and data give the same model")
	fs.IntVar(&opts.Epochs, "epochs", opts.Epochs, "training epochs")
	fs.IntVar(&opts.MinDF, "min-df", opts.MinDF, "keep features that occur in at least this many posts")
	fs.Float64Var(&opts.NegWeight, "neg-weight", opts.NegWeight, "weight of an ordinary post in the high-risk head and the stackers' p_high")
	fs.Float64Var(&opts.NegLevelWeight, "neg-level-weight", opts.NegLevelWeight, "weight of an ordinary post (as level 0) in the level head")
	fs.Float64Var(&opts.Weight910, "weight-910", opts.Weight910, "weight of a level 9-10 post in the stacker's high-risk output")
	fs.Float64Var(&opts.Rate, "rate", opts.Rate, "AdaGrad learning rate")
	fs.Float64Var(&opts.L2, "l2", opts.L2, "L2 penalty of the trained heads, per update of a feature's weights")
	fs.IntVar(&cv, "cv", 0, "instead of writing a model, report K-fold cross-validation figures on the training posts (K >= 2)")
	fs.Float64Var(&fraction, "fraction", 1, "with --cv: train each fold on this share (0-1] of its labeled posts, a seeded sample, all its ordinary posts and the same held-out folds (a learning curve: would more labeled posts help?)")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if opts.Epochs < 1 {
		return fmt.Errorf("train: --epochs must be 1 or more, got %d", opts.Epochs)
	}
	if !(fraction > 0 && fraction <= 1) {
		return fmt.Errorf("train: --fraction must be in (0, 1], got %g", fraction)
	}
	if fraction != 1 && cv == 0 {
		return fmt.Errorf("train: --fraction is for --cv (a learning curve); a model is trained on all its posts")
	}
	if version == "" {
		version = "risk-" + time.Now().UTC().Format("20060102")
	}
	var (
		examples []classifier.Example
		inputs   []inputFile
		levels   [11]int
	)
	for _, path := range strings.Split(train, ",") {
		ps, sum, err := readJSONLSum(path)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		in := inputFile{path: path, role: "labeled", sha256: sum, posts: len(ps)}
		for _, p := range ps {
			if p.Level == nil || *p.Level < 0 || *p.Level > 10 {
				return fmt.Errorf("train: %s has a line without a level 0-10", path)
			}
			if p.Text == "" {
				continue // an exported label whose text retention removed
			}
			in.used++
			levels[*p.Level]++
			examples = append(examples, classifier.Example{Text: p.Text, Level: *p.Level})
		}
		inputs = append(inputs, in)
	}
	if negatives != "" {
		for _, path := range strings.Split(negatives, ",") {
			ps, sum, err := readJSONLSum(path)
			if err != nil {
				return fmt.Errorf("negatives: %w", err)
			}
			in := inputFile{path: path, role: "ordinary", sha256: sum, posts: len(ps)}
			for _, p := range ps {
				if !classifier.HeldOut(p.Text) { // the held-out 20% is for the figures only
					in.used++
					examples = append(examples, classifier.Example{Text: p.Text, Negative: true})
				}
			}
			inputs = append(inputs, in)
		}
	}
	dir := filepath.Dir(out)
	opts.Version, opts.Log = version, stdout
	opts.VocabPath, opts.DictPath = filepath.Join(dir, "vocab.txt"), filepath.Join(dir, "segment-dict.txt")
	if cv != 0 {
		if cv < 2 {
			return fmt.Errorf("train: --cv must be 2 or more, got %d", cv)
		}
		return crossValidate(ctx, examples, opts, cv, fraction, stdout)
	}
	if cardPath == "" {
		cardPath = filepath.Join(dir, "README.md")
	}
	var cd *card
	if cardPath != "none" {
		c, err := readCard(cardPath)
		if err != nil {
			return err
		}
		cd = c
	}
	start := time.Now()
	m, err := classifier.Train(examples, opts)
	if err != nil {
		return err
	}
	// serve would refuse a model that fails its self-check: keep the last
	// good one rather than write it.
	if err := classifier.New(classifier.Options{Model: m}).SelfCheck(); err != nil {
		return fmt.Errorf("%s is left as it was: %w", out, err)
	}
	if err := m.Save(out); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	took := time.Since(start)
	st, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d features, %.1f MB) in %v\n", out, m.Meta.Features, float64(st.Size())/1e6, took.Round(time.Second))
	rec := &trainingRecord{model: m, modelPath: out, modelBytes: st.Size(), started: start, took: took,
		opts: opts, inputs: inputs, levels: levels}
	if rec.modelSHA256, err = fileSHA256(out); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	if val != "" {
		// Report on the validation set and the held-out ordinary posts,
		// with the model as saved (quantised).
		loaded, err := classifier.LoadModel(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nvalidation %s; ordinary posts: the 20%% held out of training\n", val)
		cls := classifier.New(classifier.Options{Model: loaded})
		g, err := grade(cls, nil, val, negatives, true)
		if err != nil {
			return err
		}
		if err := g.print(stdout, cls, nil, val); err != nil {
			return err
		}
		rec.val, rec.graded = val, g
	}
	if cd != nil {
		if err := cd.write(rec.markdown()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote the training record into %s\n", cd.path)
	}
	return ctx.Err()
}

// assignFolds deals the examples to k folds: labeled and ordinary posts
// separately, each after its own seeded shuffle, so that every fold has
// its share of both and adding ordinary posts does not move labeled ones
// to other folds (a change to the negatives compares on the same split).
func assignFolds(examples []classifier.Example, k int, seed uint64) []int {
	fold := make([]int, len(examples))
	var byKind [2][]int // labeled, ordinary
	for i, ex := range examples {
		kind := 0
		if ex.Negative {
			kind = 1
		}
		byKind[kind] = append(byKind[kind], i)
	}
	for kind, idx := range byKind {
		for j, p := range rand.New(rand.NewPCG(seed, 0xc5+uint64(kind))).Perm(len(idx)) {
			fold[idx[p]] = j % k
		}
	}
	return fold
}

// sampleLabeled marks the posts a fold may train on: every ordinary post
// and a seeded share fraction of the labeled ones (whole levels alike:
// each level's posts are shuffled and the first fraction of them kept, so
// a sample keeps the levels' proportions).
func sampleLabeled(examples []classifier.Example, fraction float64, seed uint64) []bool {
	keep := make([]bool, len(examples))
	if fraction >= 1 {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	var byLevel [11][]int
	for i, ex := range examples {
		if ex.Negative {
			keep[i] = true
			continue
		}
		byLevel[ex.Level] = append(byLevel[ex.Level], i)
	}
	for level, idx := range byLevel {
		r := rand.New(rand.NewPCG(seed, 0x5a+uint64(level)))
		n := int(math.Round(fraction * float64(len(idx))))
		for _, p := range r.Perm(len(idx))[:n] {
			keep[idx[p]] = true
		}
	}
	return keep
}

// crossValidate trains on all folds but one, K times, and reports the
// figures of each held-out fold (its labeled and ordinary posts) and
// their mean, so that a change to the model can be judged on more posts
// than the validation set holds. With fraction below 1, each fold trains
// on that share of its labeled posts (the same seeded sample for every
// fold) and is measured on the same held-out fold: run at a few fractions,
// it shows how the figures grow with labeled data.
func crossValidate(ctx context.Context, examples []classifier.Example, opts classifier.TrainOptions, k int, fraction float64, stdout io.Writer) error {
	fold := assignFolds(examples, k, opts.Seed)
	keep := sampleLabeled(examples, fraction, opts.Seed)
	opts.Log = io.Discard
	reports := make([]classifier.Report, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for f := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[f] = ctx.Err()
				return
			}
			var train []classifier.Example
			var test []int
			for i, ex := range examples {
				switch {
				case fold[i] == f:
					test = append(test, i)
				case keep[i]:
					train = append(train, ex)
				}
			}
			o := opts
			o.Seed = opts.Seed + uint64(f)
			m, err := classifier.Train(train, o)
			if err != nil {
				errs[f] = err
				return
			}
			cls := classifier.New(classifier.Options{Model: m})
			var labeled, neg []classifier.Prediction
			for _, i := range test {
				res, err := cls.Score(examples[i].Text)
				if err != nil && !errors.Is(err, classifier.ErrEmpty) {
					errs[f] = err
					return
				}
				p := classifier.Prediction{Gold: examples[i].Level, Level: res.Level, PHigh: res.PHigh}
				if examples[i].Negative {
					neg = append(neg, p)
				} else {
					labeled = append(labeled, p)
				}
			}
			reports[f] = classifier.Evaluate(labeled, neg)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d-fold cross-validation (seed %d)", k, opts.Seed)
	if fraction < 1 {
		fmt.Fprintf(stdout, ", each fold trained on %.0f%% of its labeled posts", 100*fraction)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "fold  posts  P      R      F1     R9-10  acc    wF1    MAE    E-P    E-R    ordinary>=6\n")
	var mean [10]float64
	for f, r := range reports {
		row := [10]float64{r.HighPrecision, r.HighRecall, r.HighF1, r.Recall910, r.Accuracy, r.WeightedF1, r.MAE,
			r.EmergencyPrecision, r.EmergencyRecall, 100 * float64(r.NegFlagged) / float64(max(r.NegN, 1))}
		fmt.Fprintf(stdout, "%-4d  %5d ", f+1, r.N)
		for j, v := range row {
			mean[j] += v / float64(k)
			fmt.Fprintf(stdout, " %.3f ", v)
		}
		fmt.Fprintln(stdout, "%")
	}
	fmt.Fprintf(stdout, "mean        ")
	for _, v := range mean {
		fmt.Fprintf(stdout, " %.3f ", v)
	}
	fmt.Fprintln(stdout, "%")
	return ctx.Err()
}
