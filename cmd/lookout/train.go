package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lookout/classifier"
)

// cmdTrain trains the risk model from JSON Lines and writes it to models/.
func cmdTrain(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var (
		train, val, negatives, out, version string
		seed                                uint64
		epochs, minDF                       int
		negWeight, negLevelWeight, rate, l2 float64
	)
	fs := newFlagSet("train", stderr)
	fs.StringVar(&train, "train", "../shared/data/sos4k/train.jsonl", "labeled posts (text, level 0-10), comma-separated files")
	fs.StringVar(&val, "val", "../shared/data/sos4k/val.jsonl", "labeled posts to report figures on after training (not used to fit)")
	fs.StringVar(&negatives, "negatives", "../shared/data/ewect/posts.jsonl,../shared/data/weibo_random/posts.jsonl",
		"ordinary posts (text), comma-separated; 80% train, a fixed 20% is held out for the false-alarm figures")
	fs.StringVar(&out, "out", "models/risk.model", "model file to write; vocab.txt and segment-dict.txt must be beside it")
	fs.StringVar(&version, "version", "", "model version (default: risk-YYYYMMDD)")
	fs.Uint64Var(&seed, "seed", 1, "random seed; the same seed and data give the same model")
	fs.IntVar(&epochs, "epochs", 12, "training epochs")
	fs.IntVar(&minDF, "min-df", 3, "keep features that occur in at least this many posts")
	fs.Float64Var(&negWeight, "neg-weight", 2, "weight of an ordinary post in the high-risk head")
	fs.Float64Var(&negLevelWeight, "neg-level-weight", 0.1, "weight of an ordinary post (as level 0) in the level head")
	fs.Float64Var(&rate, "rate", 0.3, "AdaGrad learning rate")
	fs.Float64Var(&l2, "l2", 1e-6, "L2 penalty")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if version == "" {
		version = "risk-" + time.Now().UTC().Format("20060102")
	}
	var examples []classifier.Example
	for _, path := range strings.Split(train, ",") {
		ps, err := readJSONL(path)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		for _, p := range ps {
			if p.Level == nil || *p.Level < 0 || *p.Level > 10 {
				return fmt.Errorf("train: %s has a line without a level 0-10", path)
			}
			if p.Text == "" {
				continue // an exported label whose text retention removed
			}
			examples = append(examples, classifier.Example{Text: p.Text, Level: *p.Level})
		}
	}
	if negatives != "" {
		for _, path := range strings.Split(negatives, ",") {
			ps, err := readJSONL(path)
			if err != nil {
				return fmt.Errorf("negatives: %w", err)
			}
			for _, p := range ps {
				if !classifier.HeldOut(p.Text) { // the held-out 20% is for the figures only
					examples = append(examples, classifier.Example{Text: p.Text, Negative: true})
				}
			}
		}
	}
	dir := filepath.Dir(out)
	start := time.Now()
	m, err := classifier.Train(examples, classifier.TrainOptions{
		Version: version, Seed: seed, Epochs: epochs, Log: stdout, MinDF: minDF,
		NegWeight: negWeight, NegLevelWeight: negLevelWeight, Rate: rate, L2: l2,
		VocabPath: filepath.Join(dir, "vocab.txt"), DictPath: filepath.Join(dir, "segment-dict.txt"),
	})
	if err != nil {
		return err
	}
	if err := m.Save(out); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	st, _ := os.Stat(out)
	fmt.Fprintf(stdout, "wrote %s (%d features, %.1f MB) in %v\n", out, m.Meta.Features, float64(st.Size())/1e6, time.Since(start).Round(time.Second))
	if val == "" {
		return nil
	}
	// Report on the validation set and the held-out ordinary posts, with
	// the model as saved (quantised).
	loaded, err := classifier.LoadModel(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nvalidation %s; ordinary posts: the 20%% held out of training\n", val)
	if err := evaluate(classifier.New(classifier.Options{Model: loaded}), val, negatives, true, stdout); err != nil {
		return err
	}
	return ctx.Err()
}
