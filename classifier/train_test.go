package classifier

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticPosts builds labeled posts from phrase templates: high-risk
// ones name a method and a time (levels 8-10 with progress), low ones
// speak of pain or everyday life (0-3), plus ordinary posts. A model that
// learns anything separates them; one that does not fails the test.
func syntheticPosts(seed uint64, n int) []Example {
	rng := rand.New(rand.NewPCG(seed, 7))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	times := []string{"今晚", "明天", "这周末", "月底"}
	methods := []string{"吃掉攒的安眠药", "去江边跳下去", "在房间里烧炭", "去楼顶跳下"}
	byes := []string{"永别了", "谢谢大家", "对不起爸妈", "下辈子再见"}
	pains := []string{"每天都很难受", "失眠好几天了", "工作压力好大", "心里空空的"}
	everyday := []string{"周末去爬山拍了照片", "今天的火锅很好吃", "新买的裙子到了", "猫咪在睡觉", "晚上看了一场电影"}
	fillers := []string{"", "唉，", "说真的，", "算了，"}
	var out []Example
	for i := range n {
		switch i % 3 {
		case 0:
			level := 8 + rng.IntN(2)
			text := pick(fillers) + pick(times) + pick(methods) + "，" + pick(byes)
			if rng.IntN(4) == 0 {
				text, level = "已经吃了一整瓶药了，"+pick(byes), 10
			}
			out = append(out, Example{Text: text, Level: level})
		case 1:
			out = append(out, Example{Text: pick(fillers) + pick(pains) + "，" + pick(pains), Level: 1 + rng.IntN(3)})
		default:
			out = append(out, Example{Text: pick(everyday) + "，" + pick(everyday), Negative: true})
		}
	}
	return out
}

func trainSynthetic(t *testing.T, seed uint64) (*Model, string) {
	t.Helper()
	dir := t.TempDir()
	opts := TrainOptions{Version: "test", Seed: seed, Epochs: 4, Folds: 3, MinDF: 2,
		VocabPath: filepath.Join("..", "models", "vocab.txt"), DictPath: filepath.Join("..", "models", "segment-dict.txt")}
	m, err := Train(syntheticPosts(1, 240), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.txt", "segment-dict.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "models", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "risk.model")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return m, path
}

// TestTrainSaveLoad: a model trained on synthetic posts, saved and loaded
// again, grades unseen posts of the same kinds on the right side of level
// 6, with p_high on the matching side of its threshold; the same seed and
// data give the same file.
func TestTrainSaveLoad(t *testing.T) {
	_, path := trainSynthetic(t, 3)
	m, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Meta.Stackers) != stackMembers || m.Meta.Threshold <= 0 || m.Meta.Threshold >= 1 {
		t.Fatalf("%d stackers, threshold %v", len(m.Meta.Stackers), m.Meta.Threshold)
	}
	c := New(Options{Model: m})
	var wrong []string
	for _, ex := range syntheticPosts(99, 90) {
		res, err := c.Score(ex.Text)
		if err != nil {
			t.Fatal(err)
		}
		high := !ex.Negative && ex.Level >= HighRiskLevel
		if (res.Level >= HighRiskLevel) != high || (res.PHigh >= m.Meta.Threshold) != high {
			wrong = append(wrong, fmt.Sprintf("%q level %d p_high %.2f", ex.Text, res.Level, res.PHigh))
		}
	}
	if len(wrong) > 3 {
		t.Errorf("%d of 90 unseen synthetic posts on the wrong side of level 6:\n%s", len(wrong), strings.Join(wrong, "\n"))
	}

	_, again := trainSynthetic(t, 3)
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two trainings with the same seed and data wrote different model files")
	}
}

// TestLoadModelRefusesABrokenStacker: a model file whose header lacks the
// stacker, or has one of the wrong shape, is refused with a message, not
// loaded to grade with zero weights.
func TestLoadModelRefusesABrokenStacker(t *testing.T) {
	_, path := trainSynthetic(t, 5)
	for name, edit := range map[string]func(*ModelMeta){
		"no stacker":  func(m *ModelMeta) { m.Stackers = nil },
		"one missing": func(m *ModelMeta) { m.Stackers = m.Stackers[1:] },
		"short level": func(m *ModelMeta) { m.Stackers[0].Level = m.Stackers[0].Level[:10] },
		"short high":  func(m *ModelMeta) { m.Stackers[1].High = m.Stackers[1].High[:3] },
		"no hidden":   func(m *ModelMeta) { m.Stackers[2].Hidden = nil },
		"short units": func(m *ModelMeta) { m.Stackers[0].LevelH[4] = m.Stackers[0].LevelH[4][:5] },
	} {
		t.Run(name, func(t *testing.T) {
			broken := rewriteHeader(t, path, edit)
			_, err := LoadModel(broken)
			if err == nil || !strings.Contains(err.Error(), "stacker") {
				t.Fatalf("got %v, want an error naming the stacker", err)
			}
		})
	}
}

// rewriteHeader writes a copy of the model file at path with its JSON
// header edited, beside the original (so vocab and dictionary are found).
func rewriteHeader(t *testing.T, path string, edit func(*ModelMeta)) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	body := raw[len(modelMagic):]
	hlen := binary.LittleEndian.Uint32(body)
	var meta ModelMeta
	if err := json.Unmarshal(body[4:4+hlen], &meta); err != nil {
		t.Fatal(err)
	}
	edit(&meta)
	hb, _ := json.Marshal(meta)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write([]byte(modelMagic))
	binary.Write(zw, binary.LittleEndian, uint32(len(hb)))
	zw.Write(hb)
	zw.Write(body[4+hlen:])
	zw.Close()
	broken := filepath.Join(filepath.Dir(path), "broken.model")
	if err := os.WriteFile(broken, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return broken
}

// TestLogitsScaleByFeaturesTheModelKnows: the base logits are the summed
// weights over the square root of the number of the post's features the
// model holds, as in training, where features too rare to keep are not
// counted: a post's unknown words (names, rare n-grams) must not dilute
// its logits.
func TestLogitsScaleByFeaturesTheModelKnows(t *testing.T) {
	keys := []uint64{11, 22, 33, 44}
	q := make([]int16, len(keys)*numHeads)
	for i := range keys {
		for h := range numHeads {
			q[i*numHeads+h] = int16(100*(i+1) + h)
		}
	}
	m := &Model{table: newWeightTable(keys, q), Meta: ModelMeta{Quantization: 0.5}}
	known := []uint64{11, 33, 44}
	var want [numHeads]float64
	for h := range want {
		for _, k := range known {
			i := int(k/11) - 1
			want[h] += float64(q[i*numHeads+h])
		}
		want[h] *= 0.5 / math.Sqrt(float64(len(known)))
	}
	for _, feats := range [][]uint64{known, {11, 7, 33, 9, 44, 1234567}} {
		var z [stackDense]float64
		m.logits(&scratch{feats: feats, clauses: make([]uint8, len(feats))}, &z)
		for h := range numHeads {
			if math.Abs(z[h]-want[h]) > 1e-9 {
				t.Fatalf("features %v: logit %d is %v, want %v", feats, h, z[h], want[h])
			}
		}
	}
	var z [stackDense]float64
	m.logits(&scratch{feats: []uint64{5, 6}, clauses: []uint8{0, 0}}, &z)
	if z != ([stackDense]float64{}) {
		t.Errorf("a post with no known feature has logits %v, want zeros", z)
	}
}

// TestClauseMaximaTakeTheRiskiestClause: beside each head's logit over the
// post, the stacker reads the largest over its clauses (each clause's
// summed weights over the square root of its known features; the whole
// post's features in none), and training computes the same values from
// float weights as scoring does from the quantised ones.
func TestClauseMaximaTakeTheRiskiestClause(t *testing.T) {
	keys := []uint64{11, 22, 33, 44}
	q := make([]int16, len(keys)*numHeads)
	for i := range keys {
		for h := range numHeads {
			q[i*numHeads+h] = int16((i + 1) * (h - 12))
		}
	}
	m := &Model{table: newWeightTable(keys, q), Meta: ModelMeta{Quantization: 0.5}}
	w := make([]float32, len(q))
	for i, v := range q {
		w[i] = float32(v) * 0.5
	}
	// Clause 0 holds features 11 and 22, clause 1 feature 33; 44 is the
	// whole post's; 7 is unknown, so it counts nowhere.
	feats, clauses := []uint64{11, 22, 7, 33, 44}, []uint8{0, 0, 1, 1, noClause}
	var z [stackDense]float64
	m.logits(&scratch{feats: feats, clauses: clauses}, &z)
	for j, h := range clauseHeads {
		c0 := float64(q[0*numHeads+h]+q[1*numHeads+h]) * 0.5 / math.Sqrt(2)
		c1 := float64(q[2*numHeads+h]) * 0.5
		if want := math.Max(c0, c1); math.Abs(z[numHeads+j]-want) > 1e-9 {
			t.Errorf("head %d: clause maximum %v, want %v (clauses %v, %v)", h, z[numHeads+j], want, c0, c1)
		}
	}
	d := trainDoc{feats: []int32{0, 1, 2, 3}, clauses: []uint8{0, 0, 1, noClause}}
	zt := logitsOf(w, &d)
	for i := range z {
		if math.Abs(z[i]-zt[i]) > 1e-6 {
			t.Errorf("input %d: scoring %v, training %v", i, z[i], zt[i])
		}
	}
	// A post with no clause (only whole-post features): the maxima are
	// the heads' logits.
	m.logits(&scratch{feats: []uint64{44}, clauses: []uint8{noClause}}, &z)
	for j, h := range clauseHeads {
		if z[numHeads+j] != z[h] {
			t.Errorf("no clause: maximum %d is %v, want the head's %v", j, z[numHeads+j], z[h])
		}
	}
}
