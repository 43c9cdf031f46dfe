package classifier

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSelfCheck: the committed model and the knowledge layer alone pass
// the self-check; a model that loads but was trained on inverted labels
// (everyday posts high, methods and farewells low) fails it, naming the
// post it graded wrong.
func TestSelfCheck(t *testing.T) {
	if err := New(Options{}).SelfCheck(); err != nil {
		t.Errorf("knowledge layer alone: %v", err)
	}
	if err := trainedClassifier(t).SelfCheck(); err != nil {
		t.Errorf("committed model: %v", err)
	}
	var inverted []Example
	for _, ex := range syntheticPosts(1, 240) {
		if ex.Negative {
			ex = Example{Text: ex.Text, Level: 9}
		} else {
			ex.Level = 10 - ex.Level
		}
		inverted = append(inverted, ex)
	}
	m, err := Train(inverted, TrainOptions{Version: "inverted", Seed: 1, Epochs: 4, Folds: 3, MinDF: 2,
		VocabPath: filepath.Join("..", "models", "vocab.txt"), DictPath: filepath.Join("..", "models", "segment-dict.txt")})
	if err != nil {
		t.Fatal(err)
	}
	err = New(Options{Model: m}).SelfCheck()
	if err == nil || !strings.Contains(err.Error(), "model inverted fails its self-check") {
		t.Fatalf("a model trained on inverted labels: %v; want a self-check failure", err)
	}
	t.Log(err)
}
