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
	var model, data, negatives string
	fs := newFlagSet("eval", stderr)
	fs.StringVar(&model, "model", defaultModelPath(), "trained model file; empty grades with the knowledge layer alone")
	fs.StringVar(&data, "data", "../shared/data/sos4k/val.jsonl", "labeled JSON Lines (text, level)")
	fs.StringVar(&negatives, "negatives", "", "ordinary posts (JSON Lines with text), comma-separated files; reports the share flagged")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	cls, err := loadClassifier(model)
	if err != nil {
		return err
	}
	posts, err := readJSONL(data)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	var labeled, neg []classifier.Prediction
	for _, p := range posts {
		if p.Level == nil {
			return fmt.Errorf("data: %s has a line without \"level\"", data)
		}
		res, err := cls.Score(p.Text)
		if err != nil && !errors.Is(err, classifier.ErrEmpty) {
			return err
		}
		labeled = append(labeled, classifier.Prediction{Gold: *p.Level, Level: res.Level, PHigh: res.PHigh})
	}
	if negatives != "" {
		for _, path := range strings.Split(negatives, ",") {
			ps, err := readJSONL(path)
			if err != nil {
				return fmt.Errorf("negatives: %w", err)
			}
			for _, p := range ps {
				res, _ := cls.Score(p.Text)
				neg = append(neg, classifier.Prediction{Gold: 0, Level: res.Level, PHigh: res.PHigh})
			}
		}
	}
	fmt.Fprintf(stdout, "model %s on %s\n", cls.Version(), data)
	classifier.Evaluate(labeled, neg).Print(stdout)
	return ctx.Err()
}
