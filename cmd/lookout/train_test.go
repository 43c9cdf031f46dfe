package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"lookout/classifier"
)

// TestTrainCrossValidation: `lookout train --cv 3` trains three times on
// two thirds of the posts and reports each held-out third and the mean;
// on posts a model can separate (method-and-time posts against everyday
// ones) the held-out F1 is high. It writes no model. --cv 1 is refused.
func TestTrainCrossValidation(t *testing.T) {
	trainPath, negPath := separablePosts(t, t.TempDir())
	out := filepath.Join("..", "..", "models", "risk.model")
	before, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--cv", "3", "--train", trainPath, "--negatives", negPath, "--val", "",
		"--epochs", "4", "--min-df", "2", "--out", out}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, mapEnv(nil), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	text := stdout.String()
	folds := regexp.MustCompile(`(?m)^[123] +\d+ +`).FindAllString(text, -1)
	mean := regexp.MustCompile(`(?m)^mean +(\S+) +(\S+) +(\S+)`).FindStringSubmatch(text)
	if len(folds) != 3 || mean == nil {
		t.Fatalf("want three fold rows and a mean row, got:\n%s", text)
	}
	if f1, _ := strconv.ParseFloat(mean[3], 64); f1 < 0.9 {
		t.Errorf("mean held-out F1 %.3f on separable posts, want >= 0.9:\n%s", f1, text)
	}
	if after, _ := os.Stat(out); !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Error("--cv wrote the model file")
	}

	stderr.Reset()
	args[2] = "1"
	if code := run(context.Background(), args, mapEnv(nil), nil, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "--cv") {
		t.Errorf("--cv 1: exit %d, stderr %q; want a refusal naming --cv", code, stderr.String())
	}
	stderr.Reset()
	args[2] = "3"
	if code := run(context.Background(), append(args, "--epochs", "0"), mapEnv(nil), nil, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "--epochs") {
		t.Errorf("--epochs 0: exit %d, stderr %q; want a refusal naming --epochs", code, stderr.String())
	}

	// A learning curve point: each fold trains on half its labeled posts
	// and is measured on the same whole held-out fold.
	stdout.Reset()
	if code := run(context.Background(), append(args, "--fraction", "0.5"), mapEnv(nil), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("--fraction 0.5: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "trained on 50% of its labeled posts") {
		t.Errorf("--fraction 0.5 does not say so:\n%s", stdout.String())
	}
	sizes := func(out string) (n []string) {
		for _, m := range regexp.MustCompile(`(?m)^[123] +(\d+) `).FindAllStringSubmatch(out, -1) {
			n = append(n, m[1])
		}
		return n
	}
	if got, want := sizes(stdout.String()), sizes(text); len(want) != 3 || !slices.Equal(got, want) {
		t.Errorf("--fraction 0.5 measured folds of %v posts, want the whole folds, %v", got, want)
	}
	for _, bad := range [][]string{
		append(args[:len(args):len(args)], "--fraction", "0"),
		append(args[:len(args):len(args)], "--fraction", "1.5"),
		{"train", "--fraction", "0.5", "--train", trainPath, "--negatives", negPath, "--val", "", "--out", out},
	} {
		stderr.Reset()
		if code := run(context.Background(), bad, mapEnv(nil), nil, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "--fraction") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal naming --fraction", bad[1:], code, stderr.String())
		}
	}
}

// separablePosts writes 240 labeled posts a model can separate (method
// and time at levels 8-10 against pain at levels 0-2) and 120 everyday
// ordinary posts, and returns the two files.
func separablePosts(t *testing.T, dir string) (labeledPath, ordinaryPath string) {
	var labeled, ordinary bytes.Buffer
	methods := []string{"吃掉攒的安眠药", "去江边跳下去", "在房间里烧炭", "去楼顶跳下"}
	times := []string{"今晚", "明天", "这周末"}
	pains := []string{"每天都很难受", "失眠好几天了", "工作压力好大", "心里空空的"}
	everyday := []string{"周末去爬山拍了照片", "今天的火锅很好吃", "新买的裙子到了", "猫咪在睡觉"}
	for i := range 120 {
		high, _ := json.Marshal(map[string]any{"text": times[i%3] + methods[i%4] + "，永别了", "level": 8 + i%3})
		low, _ := json.Marshal(map[string]any{"text": pains[i%4] + "，" + pains[(i/4)%4], "level": i % 3})
		fmt.Fprintf(&labeled, "%s\n%s\n", high, low)
		fmt.Fprintf(&ordinary, "{\"text\": %q, \"emotion\": %q}\n", everyday[i%4]+"，"+everyday[(i/4)%4], emotions[i%len(emotions)])
	}
	labeledPath, ordinaryPath = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "ordinary.jsonl")
	if err := os.WriteFile(labeledPath, labeled.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ordinaryPath, ordinary.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return labeledPath, ordinaryPath
}

// labeledAndOrdinary makes labeled posts (levels 0-10 in turn) followed
// by ordinary ones, each with its own text.
func labeledAndOrdinary(labeled, ordinary int) []classifier.Example {
	var examples []classifier.Example
	for i := range labeled {
		examples = append(examples, classifier.Example{Text: strconv.Itoa(i), Level: i % 11})
	}
	for i := range ordinary {
		examples = append(examples, classifier.Example{Text: "o" + strconv.Itoa(i), Negative: true})
	}
	return examples
}

// TestSampleLabeled: a learning curve's sample keeps every ordinary post
// and the given share of each level's labeled posts, the same for the
// same seed, another for another seed.
func TestSampleLabeled(t *testing.T) {
	examples := labeledAndOrdinary(220, 50)
	keep := sampleLabeled(examples, 0.25, 1)
	var perLevel [11]int
	for i, k := range keep {
		switch {
		case examples[i].Negative && !k:
			t.Fatalf("ordinary post %d left out of the sample", i)
		case k && !examples[i].Negative:
			perLevel[examples[i].Level]++
		}
	}
	for level, n := range perLevel {
		if n != 5 { // 25% of 20
			t.Errorf("level %d: %d posts kept of 20, want 5", level, n)
		}
	}
	if !slices.Equal(sampleLabeled(examples, 0.25, 1), keep) {
		t.Error("the same seed gave another sample")
	}
	if slices.Equal(sampleLabeled(examples, 0.25, 2), keep) {
		t.Error("seed 2 gave the same sample as seed 1")
	}
	for i, k := range sampleLabeled(examples, 1, 1) {
		if !k {
			t.Fatalf("fraction 1 left post %d out", i)
		}
	}
}

// TestAssignFolds: every fold gets its share of labeled and of ordinary
// posts, and adding ordinary posts leaves each labeled post in its fold,
// so that a change to the negatives is measured on the same split.
func TestAssignFolds(t *testing.T) {
	examples := labeledAndOrdinary(100, 400)
	fold := assignFolds(examples, 5, 1)
	var count [5][2]int
	for i, f := range fold {
		kind := 0
		if examples[i].Negative {
			kind = 1
		}
		count[f][kind]++
	}
	for f, c := range count {
		if c != [2]int{20, 80} {
			t.Errorf("fold %d has %d labeled and %d ordinary posts, want 20 and 80", f, c[0], c[1])
		}
	}
	more := append(append([]classifier.Example(nil), examples...), make([]classifier.Example, 300)...)
	for i := 500; i < len(more); i++ {
		more[i] = classifier.Example{Text: "n" + strconv.Itoa(i), Negative: true}
	}
	again := assignFolds(more, 5, 1)
	for i := range 100 {
		if again[i] != fold[i] {
			t.Fatalf("labeled post %d moved from fold %d to %d when ordinary posts were added", i, fold[i], again[i])
		}
	}
	if other := assignFolds(examples, 5, 2); slices.Equal(other, fold) {
		t.Error("seed 2 dealt the same folds as seed 1")
	}
}

// threeLabeledPosts writes three labeled posts to a file in dir.
func threeLabeledPosts(t *testing.T, dir string) string {
	path := filepath.Join(dir, "labeled.jsonl")
	err := os.WriteFile(path, []byte(`{"text": "攒了安眠药，今晚想死", "level": 9}
{"text": "笑死我了", "level": 0}
{"text": "活着好累", "level": 2}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEvalReportsIntervalsAndRefusesBadLevels: `lookout eval` prints the
// headline figures with their bootstrap intervals, and a labeled line
// whose level is not 0-10 is an error that names the file and the level.
func TestEvalReportsIntervalsAndRefusesBadLevels(t *testing.T) {
	dir := t.TempDir()
	good := threeLabeledPosts(t, dir)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"eval", "--model", "", "--data", good}, mapEnv(nil), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr.String())
	}
	if !regexp.MustCompile(`95% bootstrap intervals  F1 [0-9.]+-[0-9.]+  recall 9-10 [0-9.]+-[0-9.]+`).MatchString(stdout.String()) {
		t.Errorf("no intervals in:\n%s", stdout.String())
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"text": "活着好累", "level": 11}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code := run(context.Background(), []string{"eval", "--model", "", "--data", bad}, mapEnv(nil), nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "level 11, not 0-10") || !strings.Contains(stderr.String(), "bad.jsonl") {
		t.Errorf("level 11: exit %d, stderr %q", code, stderr.String())
	}
}

// TestEvalAgainstABaseline: `lookout eval --baseline` sets the model
// against a second one on the same posts, ordinary ones included; the
// committed model against itself differs by nothing. A baseline that cannot be loaded is an error
// that says it is the baseline.
func TestEvalAgainstABaseline(t *testing.T) {
	dir := t.TempDir()
	data := threeLabeledPosts(t, dir)
	ordinary := filepath.Join(dir, "ordinary.jsonl")
	if err := os.WriteFile(ordinary, []byte(`{"text": "今天的火锅很好吃"}`+"\n"+`{"text": "猫咪在睡觉"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join("..", "..", "models", "risk.model")
	var stdout, stderr bytes.Buffer
	args := []string{"eval", "--model", model, "--baseline", model, "--data", data, "--negatives", ordinary}
	if code := run(context.Background(), args, mapEnv(nil), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !regexp.MustCompile(`risk-\S+ against risk-\S+ on the same 3 posts`).MatchString(out) ||
		!regexp.MustCompile(`high-risk F1 +[0-9.]+ +[0-9.]+ +\+0\.000  \+0\.000 to \+0\.000`).MatchString(out) ||
		!strings.Contains(out, "graded at another level: 0 posts; high-risk decision changed: 0") ||
		!strings.Contains(out, "ordinary posts graded level>=6: 0 of 2, baseline 0") {
		t.Errorf("comparison against itself:\n%s", out)
	}
	stderr.Reset()
	code := run(context.Background(), []string{"eval", "--model", model, "--baseline", filepath.Join(dir, "none.model"), "--data", data}, mapEnv(nil), nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "baseline:") {
		t.Errorf("missing baseline: exit %d, stderr %q", code, stderr.String())
	}
}
