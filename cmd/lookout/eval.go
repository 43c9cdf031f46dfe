package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	return decodeJSONL(f, path)
}

// readJSONLSum is readJSONL that also returns the hex SHA-256 of the
// file's bytes, hashed as they are read.
func readJSONLSum(path string) ([]labeledPost, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	h := sha256.New()
	ps, err := decodeJSONL(io.TeeReader(f, h), path)
	if err != nil {
		return nil, "", err
	}
	return ps, hex.EncodeToString(h.Sum(nil)), nil
}

// decodeJSONL reads posts a line each from r (read from path, named in
// errors); blank lines are skipped.
func decodeJSONL(r io.Reader, path string) ([]labeledPost, error) {
	var out []labeledPost
	sc := bufio.NewScanner(r)
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
	warnSelfCheck(cls, stderr)
	var base *classifier.Classifier
	if baseline != "" {
		if base, err = loadClassifier(baseline); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		warnSelfCheck(base, stderr)
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
	g, err := grade(cls, baseline, data, negatives, heldOut)
	if err != nil {
		return err
	}
	return g.print(stdout, cls, baseline, data)
}

// emotions are the ewect labels, in the order reports list them.
var emotions = [...]string{"sad", "fear", "angry", "surprise", "neutral", "happy"}

// flagTally counts ordinary posts and those graded high risk.
type flagTally struct{ n, flagged int }

// graded is a model's grades of a labeled file and of ordinary posts, and
// the report on them.
type graded struct {
	report      classifier.Report
	labeled     []classifier.Prediction
	base        []classifier.Prediction // the baseline's, when there is one
	baseFlagged int                     // ordinary posts the baseline grades high risk
	byEmotion   map[string]*flagTally   // ordinary posts with an emotion label
}

// grade scores the labeled posts in data and the ordinary posts in
// negatives (comma-separated; only the held-out split when heldOut) with
// cls and, when not nil, baseline.
func grade(cls, baseline *classifier.Classifier, data, negatives string, heldOut bool) (*graded, error) {
	posts, err := readJSONL(data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	g := &graded{byEmotion: map[string]*flagTally{}}
	for _, p := range posts {
		if p.Level == nil {
			return nil, fmt.Errorf("data: %s has a line without \"level\"", data)
		}
		if *p.Level < 0 || *p.Level > 10 {
			return nil, fmt.Errorf("data: %s has a line with level %d, not 0-10", data, *p.Level)
		}
		res, err := cls.Score(p.Text)
		if err != nil && !errors.Is(err, classifier.ErrEmpty) {
			return nil, err
		}
		g.labeled = append(g.labeled, classifier.Prediction{Gold: *p.Level, Level: res.Level, PHigh: res.PHigh})
		if baseline != nil {
			res, err := baseline.Score(p.Text)
			if err != nil && !errors.Is(err, classifier.ErrEmpty) {
				return nil, err
			}
			g.base = append(g.base, classifier.Prediction{Gold: *p.Level, Level: res.Level, PHigh: res.PHigh})
		}
	}
	var neg []classifier.Prediction
	if negatives != "" {
		for _, path := range strings.Split(negatives, ",") {
			ps, err := readJSONL(path)
			if err != nil {
				return nil, fmt.Errorf("negatives: %w", err)
			}
			for _, p := range ps {
				if heldOut && !classifier.HeldOut(p.Text) {
					continue
				}
				res, _ := cls.Score(p.Text)
				neg = append(neg, classifier.Prediction{Gold: 0, Level: res.Level, PHigh: res.PHigh})
				if baseline != nil {
					if b, _ := baseline.Score(p.Text); b.Level >= classifier.HighRiskLevel {
						g.baseFlagged++
					}
				}
				if p.Emotion != "" {
					t := g.byEmotion[p.Emotion]
					if t == nil {
						t = &flagTally{}
						g.byEmotion[p.Emotion] = t
					}
					t.n++
					if res.Level >= classifier.HighRiskLevel {
						t.flagged++
					}
				}
			}
		}
	}
	g.report = classifier.Evaluate(g.labeled, neg)
	return g, nil
}

// print writes the report, the ordinary posts flagged by emotion label
// and, with a baseline, the comparison.
func (g *graded) print(stdout io.Writer, cls, baseline *classifier.Classifier, data string) error {
	fmt.Fprintf(stdout, "model %s on %s\n", cls.Version(), data)
	g.report.Print(stdout)
	if len(g.byEmotion) > 0 {
		fmt.Fprintf(stdout, "\nordinary posts graded level>=6 by emotion label\n")
		for _, e := range emotions {
			if t := g.byEmotion[e]; t != nil {
				fmt.Fprintf(stdout, "  %-9s %5d of %5d (%.2f%%)\n", e, t.flagged, t.n, 100*float64(t.flagged)/float64(max(t.n, 1)))
			}
		}
	}
	if baseline != nil {
		c, err := classifier.Compare(g.labeled, g.base)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		c.Print(stdout, cls.Version(), baseline.Version())
		if g.report.NegN > 0 {
			fmt.Fprintf(stdout, "ordinary posts graded level>=6: %d of %d, baseline %d\n", g.report.NegFlagged, g.report.NegN, g.baseFlagged)
		}
	}
	return nil
}
