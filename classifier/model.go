package classifier

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Outputs per feature (the base heads): head 0 is the high-risk logit;
// heads 1-10 are the ordinal logits of "level >= k" for k = 1-10; heads
// 11-21 are the softmax logits of levels 0-10 (these three are trained);
// heads 22-25 are naive Bayes log-count ratios (counted; nbSplits). The
// stacker reads them all.
const (
	ordinalHead = 0 // ordinalHead+k is the logit of "level >= k"
	softmaxHead = 11
	nbHead      = 22 // naive Bayes log-count ratios (nbSplits)
	numHeads    = 26
)

// ModelMeta describes a trained model; it is stored in the model file.
type ModelMeta struct {
	Version      string   `json:"version"`
	Seed         uint64   `json:"seed"`
	Features     int      `json:"features"`
	TrainPosts   int      `json:"train_posts"`
	Negatives    int      `json:"negatives"`
	Threshold    float64  `json:"threshold"` // p_high from which the level is taken from 6-10
	VocabSHA256  string   `json:"vocab_sha256"`
	DictSHA256   string   `json:"dict_sha256"`
	Quantization float64  `json:"quantization"` // weight = int16 * quantization
	Stackers     Stackers `json:"stackers"`     // read the base heads: p_high and the level
}

// Model is a trained statistical model in two layers. The base heads are
// linear over sparse features of the post (WordPiece uni/bigrams, gse
// words and word bigrams, knowledge-layer kinds and their combinations,
// the rule level, length): a high-risk logistic head, an ordinal level
// head (one logistic output per "level >= k"), an 11-level softmax head
// and four naive Bayes heads. The stackers (three small networks,
// averaged), fitted to the base heads' out-of-fold logits, turn them and
// the rule level into p_high and the level.
type Model struct {
	Version string
	Meta    ModelMeta
	table   *weightTable // the base heads' weights by feature key
	feat    *featurizer
}

const modelMagic = "LOOKOUT-RISK-6\n" // 2: with the ordinal head; 3: with the stacker; 4: with the naive Bayes heads; 5: three stackers with tanh units; 6: clause maxima

// LoadModel reads a model file and the vocabulary (vocab.txt) and
// segmentation dictionary (segment-dict.txt) beside it, checking that
// they are the ones the model was trained with.
func LoadModel(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: not a lookout model (gzip: %v)", path, err)
	}
	m, err := readModel(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	fz, err := loadFeaturizer(filepath.Join(dir, "vocab.txt"), filepath.Join(dir, "segment-dict.txt"), m.Meta.VocabSHA256, m.Meta.DictSHA256)
	if err != nil {
		return nil, err
	}
	m.feat = fz
	return m, nil
}

func loadFeaturizer(vocabPath, dictPath, vocabSum, dictSum string) (*featurizer, error) {
	vb, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	db, err := os.ReadFile(dictPath)
	if err != nil {
		return nil, fmt.Errorf("segmentation dictionary: %w", err)
	}
	if vocabSum != "" && sha(vb) != vocabSum {
		return nil, fmt.Errorf("vocabulary %s is not the one the model was trained with", vocabPath)
	}
	if dictSum != "" && sha(db) != dictSum {
		return nil, fmt.Errorf("segmentation dictionary %s is not the one the model was trained with", dictPath)
	}
	wp, err := LoadWordPiece(bytes.NewReader(vb))
	if err != nil {
		return nil, err
	}
	seg, err := newSegmenter(string(db))
	if err != nil {
		return nil, err
	}
	return &featurizer{wp: wp, seg: seg}, nil
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func readModel(r io.Reader) (*Model, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != modelMagic {
		if bytes.HasPrefix(magic, []byte("LOOKOUT-RISK-")) {
			return nil, fmt.Errorf("model format %q, this build reads %q: train it again with lookout train",
				bytes.TrimSpace(magic), strings.TrimSpace(modelMagic))
		}
		return nil, errors.New("not a lookout risk model")
	}
	var hlen uint32
	if err := binary.Read(br, binary.LittleEndian, &hlen); err != nil || hlen > 1<<20 {
		return nil, errors.New("corrupt model header")
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, errors.New("corrupt model header")
	}
	m := &Model{}
	if err := json.Unmarshal(hb, &m.Meta); err != nil {
		return nil, fmt.Errorf("corrupt model header: %v", err)
	}
	n := m.Meta.Features
	if n <= 0 || n > 5_000_000 || m.Meta.Quantization <= 0 {
		return nil, errors.New("corrupt model header: feature count or quantization")
	}
	if err := m.Meta.Stackers.check(); err != nil {
		return nil, fmt.Errorf("corrupt model header: %v", err)
	}
	keys := make([]uint64, n)
	if err := binary.Read(br, binary.LittleEndian, keys); err != nil {
		return nil, fmt.Errorf("corrupt model keys: %v", err)
	}
	q := make([]int16, n*numHeads)
	if err := binary.Read(br, binary.LittleEndian, q); err != nil {
		return nil, fmt.Errorf("corrupt model weights: %v", err)
	}
	m.table = newWeightTable(keys, q)
	m.Version = m.Meta.Version
	return m, nil
}

// quantize returns trained float weights as 16-bit integers (the
// weight is q * scale): half the memory of float32, so more of the
// model stays in cache.
func quantize(w []float32) (q []int16, scale float64) {
	maxAbs := 0.0
	for _, v := range w {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	scale = math.Max(maxAbs, 1e-9) / 32767
	q = make([]int16, len(w))
	for i, v := range w {
		q[i] = int16(math.Round(float64(v) / scale))
	}
	return q, scale
}

// Save writes the model, gzip-compressed.
func (m *Model) Save(path string) error {
	keys, q := m.table.features()
	m.Meta.Features = len(keys)
	hb, err := json.Marshal(m.Meta)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	bw.WriteString(modelMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hb)))
	bw.Write(hb)
	binary.Write(bw, binary.LittleEndian, keys)
	binary.Write(bw, binary.LittleEndian, q)
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// numClauseHeads is the number of heads whose largest logit over the
// post's clauses the stacker reads beside their logits over the whole
// post: a post whose act sits in one clause of many has it diluted in the
// whole post's sum (scaled by 1/sqrt of all its features), not in its
// clause's.
const numClauseHeads = 4

// clauseHeads are those heads: high risk, ordinal "level >= 9", and the
// naive Bayes "level >= 6" against all and "level >= 9".
var clauseHeads = [numClauseHeads]int{0, 9, nbHead, nbHead + 2}

// logits fills z with the base heads' logits and then the clause maxima.
// A head's logit sums its weights of the post's features, scaled by
// 1/sqrt(number of the post's features the model holds), as in training,
// where features too rare to keep are not counted (the features are
// binary); a clause's sums its words' and n-grams' weights, scaled by the
// square root of the number of them the model holds.
// The sums are of the 16-bit weights, in integers (exact; int64 cannot
// overflow however long the post), scaled once at the end.
func (m *Model) logits(s *scratch, z *[stackDense]float64) {
	var acc [numHeads]int64
	var cs clauseSums[int64]
	// Touch each feature's slot first: a loop this small keeps many cache
	// misses in flight at once, where the summing loop below keeps few.
	var touched uint64
	for _, k := range s.feats {
		touched += m.table.slots[m.table.home(k)].key
	}
	s.touched = touched
	found := 0
	for i, k := range s.feats {
		row := m.table.get(k)
		if row == nil {
			continue
		}
		found++
		for h := range acc {
			acc[h] += int64(row[h])
		}
		addClause(&cs, s.clauses[i], row[:])
	}
	if found == 0 {
		*z = [stackDense]float64{}
		return
	}
	scale := m.Meta.Quantization / math.Sqrt(float64(found))
	for h := range acc {
		z[h] = float64(acc[h]) * scale
	}
	cs.maxima(m.Meta.Quantization, z)
}

// clauseSums are the clause heads' summed weights in each clause of a
// post and the number of features summed: integers when scoring (the
// 16-bit weights), floats when training.
type clauseSums[T int64 | float64] struct {
	acc [maxClause + 1][numClauseHeads]T
	n   [maxClause + 1]int32
}

// addClause adds a feature's weights row (all heads) to clause c; a
// feature of the whole post (noClause) is in none.
func addClause[T int64 | float64, W int16 | float32](cs *clauseSums[T], c uint8, row []W) {
	if c == noClause {
		return
	}
	cs.n[c]++
	for j, h := range clauseHeads {
		cs.acc[c][j] += T(row[h])
	}
}

// maxima fills the clause maxima of z: each clause head's largest sum
// over the clauses, times q over the square root of the clause's
// features; with no clause, the heads' logits.
func (cs *clauseSums[T]) maxima(q float64, z *[stackDense]float64) {
	seen := false
	for c, nc := range cs.n {
		if nc == 0 {
			continue
		}
		sc := q / math.Sqrt(float64(nc))
		for j := range numClauseHeads {
			v := float64(cs.acc[c][j]) * sc
			if !seen || v > z[numHeads+j] {
				z[numHeads+j] = v
			}
		}
		seen = true
	}
	if !seen {
		for j, h := range clauseHeads {
			z[numHeads+j] = z[h]
		}
	}
}

// plausiblePHigh is the p_high from which the model takes high risk
// seriously although it does not flag the post: the rules' level 9-10 may
// overrule it from here, and its evidence is shown from here (about one
// post in six at 0.15-0.42 was high risk on the validation set).
const plausiblePHigh = 0.15

// grade returns the level and calibrated p_high of a normalised post.
func (m *Model) grade(s *scratch, rule int) (int, float64) {
	m.feat.extract(s)
	var z [stackDense]float64
	m.logits(s, &z)
	var x [stackDim]float64
	var p [11]float64
	stackInput(&z, rule, &x)
	pHigh := m.Meta.Stackers.grade(&x, rule, &p)
	var level int
	if pHigh >= m.Meta.Threshold {
		level = levelIn(&p, HighRiskLevel, 10)
	} else {
		level = levelIn(&p, 0, HighRiskLevel-1)
	}
	// The knowledge layer's most concrete findings (an attempt under way;
	// a method with a time and intent) are never graded below what they
	// say: a missed level 9 can be a death.
	if rule >= emergencyLevel && level < rule && pHigh >= plausiblePHigh {
		level = rule
		pHigh = math.Max(pHigh, m.Meta.Threshold)
	}
	return level, pHigh
}

// softmax fills p with the probabilities of the 11 levels from their
// logits v.
func softmax(v *[11]float64, p *[11]float64) {
	maxV := math.Inf(-1)
	for _, x := range v {
		maxV = math.Max(maxV, x)
	}
	sum := 0.0
	for l, x := range v {
		p[l] = math.Exp(x - maxV)
		sum += p[l]
	}
	for l := range p {
		p[l] /= sum
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
