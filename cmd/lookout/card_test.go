package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// modelDir makes a folder with the vocabulary and segmentation dictionary
// that a model trained into it needs beside it.
func modelDir(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{"vocab.txt", "segment-dict.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "models", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTrainWritesTheModelCard: `lookout train` writes, with the model
// file, the record of its run into the model card beside it: the model
// file's sha256 as on disk, each data file's sha256 and counts, the
// labeled posts by level, the settings and the figures — no post text.
// A hand-written card keeps its own text around the record, and a second
// run replaces the record rather than adding one. A card whose markers
// are broken, or whose folder is missing, is refused before training, the
// model file untouched; --card none writes no card.
func TestTrainWritesTheModelCard(t *testing.T) {
	data := t.TempDir()
	trainPath, negPath := separablePosts(t, data)
	val := threeLabeledPosts(t, data)
	dir := modelDir(t)
	out := filepath.Join(dir, "risk.model")
	cardPath := filepath.Join(dir, "README.md")
	train := func(extra ...string) (int, string, string) {
		args := append([]string{"train", "--train", trainPath, "--negatives", negPath, "--val", val,
			"--epochs", "3", "--min-df", "2", "--out", out, "--version", "risk-test-1"}, extra...)
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, mapEnv(nil), nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	// No card yet: one is started.
	if code, _, stderr := train(); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(cardPath)
	if err != nil {
		t.Fatalf("no card written: %v", err)
	}
	card := string(b)
	modelSum, _ := fileSHA256(out)
	trainSum, _ := fileSHA256(trainPath)
	negSum, _ := fileSHA256(negPath)
	for _, want := range []string{
		"`risk-test-1`", "sha256 `" + modelSum + "`",
		"| `" + trainPath + "` | labeled | 240 | 240 | `" + trainSum + "` |",
		"| `" + negPath + "` | ordinary | 120 | ",
		"`" + negSum + "`",
		"by level: 0: 40, 1: 40, 2: 40, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 40, 9: 40, 10: 40.",
		"seed 1, epochs 3, min-df 2,",
		"Figures on `" + val + "` (3 posts, not used to fit)",
		"| levels 9-10 graded high risk (recall) | ",
		"| sad and fear posts graded ≥ 6 (held out) | ",
	} {
		if !strings.Contains(card, want) {
			t.Errorf("card lacks %q:\n%s", want, card)
		}
	}
	if !regexp.MustCompile(`\| ordinary posts graded ≥ 6 \(held out\) \| \d+ of \d+ \(`).MatchString(card) {
		t.Errorf("card lacks the held-out ordinary posts flagged:\n%s", card)
	}
	for _, text := range []string{"安眠药", "难受", "火锅", "笑死", "活着好累"} {
		if strings.Contains(card, text) {
			t.Errorf("the card holds post text %q", text)
		}
	}

	// A hand-written card with an old record: its own text stays, the
	// record is replaced, and a run without labeled posts says it has no
	// figures.
	hand := "# Model card\n\nHow it grades.\n\n" + cardBegin + "\nold record\n" + cardEnd + "\n\n## Known weaknesses\n\nShort posts.\n"
	other := filepath.Join(dir, "CARD.md")
	if err := os.WriteFile(other, []byte(hand), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := train("--val", "", "--card", other); code != 0 {
		t.Fatalf("train --card: exit %d: %s", code, stderr)
	}
	b, _ = os.ReadFile(other)
	card = string(b)
	if !strings.HasPrefix(card, "# Model card\n\nHow it grades.\n\n"+cardBegin+"\n### The run that wrote `risk.model`") ||
		!strings.HasSuffix(card, cardEnd+"\n\n## Known weaknesses\n\nShort posts.\n") ||
		strings.Contains(card, "old record") || strings.Count(card, cardBegin) != 1 ||
		!strings.Contains(card, "No figures: the run was given no labeled posts") {
		t.Errorf("hand-written card after a run:\n%s", card)
	}

	// Broken markers: refused before training, naming the card; the
	// model file is not rewritten. With --card none the card is left alone.
	broken := "# Model card\n\n" + cardBegin + "\nno end marker\n"
	if err := os.WriteFile(cardPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(out)
	code, _, stderr := train()
	if code == 0 || !strings.Contains(stderr, "README.md") || !strings.Contains(stderr, "markers") {
		t.Errorf("broken card: exit %d, stderr %q; want a refusal naming the card and its markers", code, stderr)
	}
	if after, _ := os.Stat(out); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the model file was rewritten though the card was refused")
	}
	code, _, stderr = train("--card", filepath.Join(dir, "no-such-folder", "README.md"))
	if code == 0 || !strings.Contains(stderr, "no-such-folder") {
		t.Errorf("card in a missing folder: exit %d, stderr %q; want a refusal naming it", code, stderr)
	}
	if after, _ := os.Stat(out); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the model file was rewritten though the card's folder is missing")
	}
	if code, _, stderr := train("--card", "none"); code != 0 {
		t.Fatalf("train --card none: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(cardPath); string(b) != broken {
		t.Errorf("--card none changed the card:\n%s", b)
	}
}

// TestThousands: counts in the card are grouped by three digits.
func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 5449353: "5,449,353", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCommittedCardNamesTheCommittedModel: the record in models/README.md
// is the run that wrote the committed model file (a retrained model
// committed without its card fails here).
func TestCommittedCardNamesTheCommittedModel(t *testing.T) {
	dir := filepath.Join("..", "..", "models")
	c, err := readCard(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.marked {
		t.Fatal("models/README.md has no training record")
	}
	b, _ := os.ReadFile(c.path)
	rec := string(b)[len(c.before) : len(b)-len(c.after)]
	m := regexp.MustCompile("\\| model \\| `(\\S+)`, [0-9,]+ bytes, sha256 `([0-9a-f]{64})` \\|").FindStringSubmatch(rec)
	if m == nil {
		t.Fatalf("the record names no model:\n%s", rec)
	}
	sum, err := fileSHA256(filepath.Join(dir, "risk.model"))
	if err != nil {
		t.Fatal(err)
	}
	cls, err := loadClassifier(filepath.Join(dir, "risk.model"))
	if err != nil {
		t.Fatal(err)
	}
	if m[2] != sum || m[1] != cls.Version() {
		t.Errorf("the card's record names %s with sha256 %s; the committed model is %s with sha256 %s", m[1], m[2], cls.Version(), sum)
	}
}
