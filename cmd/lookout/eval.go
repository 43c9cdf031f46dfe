package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"lookout/classifier"
)

// labeledPost is a line of the training and evaluation files.
type labeledPost struct {
	Text    string `json:"text"`
	Level   *int   `json:"level"`
	Emotion string `json:"emotion"`
}

// readJSONL reads labeled or plain posts; a bad line is an error naming it.
func readJSONL(path string) ([]labeledPost, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []labeledPost
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var p labeledPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s line %d: not a JSON object", path, n)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func cmdEval(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var model, data, negatives, baseline string
	var heldOut bool
	fs := newFlagSet("eval", stderr)
	fs.StringVar(&model, "model", defaultModelPath(), "trained model file; empty grades with the knowledge layer alone")
	fs.StringVar(&data, "data", "../shared/data/sos4k/val.jsonl", "labeled JSON Lines (text, level)")
	fs.StringVar(&negatives, "negatives", "", "ordinary posts (JSON Lines with text), comma-separated files; reports the share flagged")
	fs.BoolVar(&heldOut, "held-out", false, "use only the ordinary posts held out of training (the 20% split of lookout train)")
	fs.StringVar(&baseline, "baseline", "", "a second model file to compare against on the same labeled posts (paired bootstrap intervals of the differences)")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	cls, err := loadClassifier(model)
	if err != nil {
		return err
	}
	var base *classifier.Classifier
	if baseline != "" {
		if base, err = loadClassifier(baseline); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	if err := evaluate(cls, base, data, negatives, heldOut, stdout); err != nil {
		return err
	}
	return ctx.Err()
}

// evaluate scores labeled posts (data) and ordinary ones (negatives,
// comma-separated; only the held-out split when heldOut) and prints the
// report, with ordinary posts flagged by emotion label where known; with a
// baseline, also the model against it on the labeled posts.
func evaluate(cls, baseline *classifier.Classifier, data, negatives string, heldOut bool, stdout io.Writer) error {
	posts, err := readJSONL(data)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	var labeled, neg, base []classifier.Prediction
	for _, p := range posts {
		if p.Level == nil {
			return fmt.Errorf("data: %s has a line without \"level\"", data)
		}
		if *p.Level < 0 || *p.Level > 10 {
			return fmt.Errorf("data: %s has a line with level %d, not 0-10", data, *p.Level)
		}
		res, err := cls.Score(p.Text)
		if err != nil && !errors.Is(err, classifier.ErrEmpty) {
			return err
		}
		labeled = append(labeled, classifier.Prediction{Gold: *p.Level, Level: res.Level, PHigh: res.PHigh})
		if baseline != nil {
			res, err := baseline.Score(p.Text)
			if err != nil && !errors.Is(err, classifier.ErrEmpty) {
				return err
			}
			base = append(base, classifier.Prediction{Gold: *p.Level, Level: res.Level, PHigh: res.PHigh})
		}
	}
	baseFlagged := 0 // ordinary posts the baseline grades high risk
	type tally struct{ n, flagged int }
	byEmotion := map[string]*tally{}
	if negatives != "" {
		for _, path := range strings.Split(negatives, ",") {
			ps, err := readJSONL(path)
			if err != nil {
				return fmt.Errorf("negatives: %w", err)
			}
			for _, p := range ps {
				if heldOut && !classifier.HeldOut(p.Text) {
					continue
				}
				res, _ := cls.Score(p.Text)
				neg = append(neg, classifier.Prediction{Gold: 0, Level: res.Level, PHigh: res.PHigh})
				if baseline != nil {
					if b, _ := baseline.Score(p.Text); b.Level >= classifier.HighRiskLevel {
						baseFlagged++
					}
				}
				if p.Emotion != "" {
					t := byEmotion[p.Emotion]
					if t == nil {
						t = &tally{}
						byEmotion[p.Emotion] = t
					}
					t.n++
					if res.Level >= classifier.HighRiskLevel {
						t.flagged++
					}
				}
			}
		}
	}
	fmt.Fprintf(stdout, "model %s on %s\n", cls.Version(), data)
	report := classifier.Evaluate(labeled, neg)
	report.Print(stdout)
	if len(byEmotion) > 0 {
		fmt.Fprintf(stdout, "\nordinary posts graded level>=6 by emotion label\n")
		for _, e := range []string{"sad", "fear", "angry", "surprise", "neutral", "happy"} {
			if t := byEmotion[e]; t != nil {
				fmt.Fprintf(stdout, "  %-9s %5d of %5d (%.2f%%)\n", e, t.flagged, t.n, 100*float64(t.flagged)/float64(max(t.n, 1)))
			}
		}
	}
	if baseline != nil {
		c, err := classifier.Compare(labeled, base)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		c.Print(stdout, cls.Version(), baseline.Version())
		if len(neg) > 0 {
			fmt.Fprintf(stdout, "ordinary posts graded level>=6: %d of %d, baseline %d\n", report.NegFlagged, len(neg), baseFlagged)
		}
	}
	return nil
}
