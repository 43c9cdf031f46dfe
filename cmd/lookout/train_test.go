package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTrainCrossValidation: `lookout train --cv 3` trains three times on
// two thirds of the posts and reports each held-out third and the mean;
// on posts a model can separate (method-and-time posts against everyday
// ones) the held-out F1 is high. It writes no model. --cv 1 is refused.
func TestTrainCrossValidation(t *testing.T) {
	dir := t.TempDir()
	var labeled, ordinary bytes.Buffer
	methods := []string{"吃掉攒的安眠药", "去江边跳下去", "在房间里烧炭", "去楼顶跳下"}
	times := []string{"今晚", "明天", "这周末"}
	pains := []string{"每天都很难受", "失眠好几天了", "工作压力好大", "心里空空的"}
	everyday := []string{"周末去爬山拍了照片", "今天的火锅很好吃", "新买的裙子到了", "猫咪在睡觉"}
	for i := range 120 {
		high, _ := json.Marshal(map[string]any{"text": times[i%3] + methods[i%4] + "，永别了", "level": 8 + i%3})
		low, _ := json.Marshal(map[string]any{"text": pains[i%4] + "，" + pains[(i/4)%4], "level": i % 3})
		fmt.Fprintf(&labeled, "%s\n%s\n", high, low)
		fmt.Fprintf(&ordinary, "{\"text\": %q}\n", everyday[i%4]+"，"+everyday[(i/4)%4])
	}
	trainPath, negPath := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "ordinary.jsonl")
	os.WriteFile(trainPath, labeled.Bytes(), 0o600)
	os.WriteFile(negPath, ordinary.Bytes(), 0o600)
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
}
