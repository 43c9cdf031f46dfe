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

// Outputs per feature: head 0 is the high-risk logit; heads 1-10 are the
// ordinal logits of "level >= k" for k = 1-10; heads 11-21 are the softmax
// logits of levels 0-10. Most posts need only heads 0-10.
const (
	ordinalHead = 0 // ordinalHead+k is the logit of "level >= k"
	softmaxHead = 11
	numHeads    = 22
	blockHeads  = 11 // heads 0-10 of every feature are stored first, then heads 11-21
)

// weightIndex is where the weight of head h of feature f is in a model's
// weights: two blocks, so that the pass over heads 0-10 that most posts
// need reads half the memory.
func weightIndex(nFeat, f, h int) int {
	return (h/blockHeads)*nFeat*blockHeads + f*blockHeads + h%blockHeads
}

// ModelMeta describes a trained model; it is stored in the model file.
type ModelMeta struct {
	Version      string  `json:"version"`
	Seed         uint64  `json:"seed"`
	Features     int     `json:"features"`
	TrainPosts   int     `json:"train_posts"`
	Negatives    int     `json:"negatives"`
	PlattA       float64 `json:"platt_a"`   // p_high = sigmoid(a*z + b) of the high-risk logit z
	PlattB       float64 `json:"platt_b"`   //
	Threshold    float64 `json:"threshold"` // p_high from which the level is taken from 6-10
	VocabSHA256  string  `json:"vocab_sha256"`
	DictSHA256   string  `json:"dict_sha256"`
	Quantization float64 `json:"quantization"` // weight = int16 * quantization
	// SoftmaxShare is the softmax head's weight, against the ordinal
	// head's, in grading posts below high risk; chosen out of fold.
	SoftmaxShare float64 `json:"softmax_share"`
}

// Model is a trained statistical model: a high-risk logistic head, an
// 11-level softmax head and an ordinal level head (one logistic output per
// "level >= k") over sparse features of the post (WordPiece
// uni/bigrams, gse words and word bigrams, knowledge-layer kinds and
// their combinations, the rule level, length).
type Model struct {
	Version string
	Meta    ModelMeta
	index   *featureTable
	w       []float32 // numHeads weights per feature, laid out by weightIndex
	feat    *featurizer
}

const modelMagic = "LOOKOUT-RISK-2\n" // 2: with the ordinal head

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
	keys := make([]uint64, n)
	if err := binary.Read(br, binary.LittleEndian, keys); err != nil {
		return nil, fmt.Errorf("corrupt model keys: %v", err)
	}
	q := make([]int16, n*numHeads)
	if err := binary.Read(br, binary.LittleEndian, q); err != nil {
		return nil, fmt.Errorf("corrupt model weights: %v", err)
	}
	m.index = newFeatureTable(keys)
	m.w = make([]float32, len(q))
	for i, v := range q {
		m.w[i] = float32(float64(v) * m.Meta.Quantization)
	}
	m.Version = m.Meta.Version
	return m, nil
}

// Save writes the model, gzip-compressed, with weights quantised to
// 16 bits.
func (m *Model) Save(path string) error {
	keys := m.index.keys()
	maxAbs := 0.0
	for _, v := range m.w {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	m.Meta.Quantization = math.Max(maxAbs, 1e-9) / 32767
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
	q := make([]int16, len(m.w))
	for i, v := range m.w {
		q[i] = int16(math.Round(float64(v) / m.Meta.Quantization))
	}
	binary.Write(bw, binary.LittleEndian, q)
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// logits sums the weights of heads [from, to) of the post's features,
// scaled by 1/sqrt(number of features) (the features are binary). The
// first call (from 0) looks the features up and keeps their rows in
// s.rows; later calls reuse them.
func (m *Model) logits(s *scratch, z *[numHeads]float64, from, to int) {
	if from == 0 {
		s.rows = s.rows[:0]
		for _, k := range s.feats {
			if i := m.index.get(k); i >= 0 {
				s.rows = append(s.rows, i)
			}
		}
	}
	scale := 1 / math.Sqrt(float64(len(s.feats)))
	for h := from; h < to; h++ {
		z[h] = 0
	}
	nFeat := len(m.w) / numHeads
	for _, i := range s.rows {
		base := weightIndex(nFeat, int(i), from)
		row := m.w[base : base+to-from] // from and to are block bounds
		for h, v := range row {
			z[from+h] += float64(v) * scale
		}
	}
}

// grade returns the level and calibrated p_high of a normalised post.
func (m *Model) grade(s *scratch, rule int) (int, float64) {
	m.feat.extract(s)
	var z [numHeads]float64
	m.logits(s, &z, 0, softmaxHead)
	pHigh := sigmoid(m.Meta.PlattA*z[0] + m.Meta.PlattB)
	lo, hi := 0, HighRiskLevel-1
	if pHigh >= m.Meta.Threshold {
		lo, hi = HighRiskLevel, 10
	}
	if lo > 0 || m.Meta.SoftmaxShare > 0 {
		m.logits(s, &z, softmaxHead, numHeads)
	}
	var level int
	if lo == 0 {
		level = lowLevel(&z, hi, m.Meta.SoftmaxShare)
	} else {
		level = highLevel(&z)
	}
	// The knowledge layer's most concrete findings (an attempt under way;
	// a method with a time and intent) are never graded below what they
	// say: a missed level 9 can be a death.
	if rule >= 9 && level < rule && pHigh >= 0.15 {
		level = rule
		pHigh = math.Max(pHigh, m.Meta.Threshold)
	}
	return level, pHigh
}

// lowLevel grades a post below high risk (0 to hi) by the two level heads
// together: the likeliest level of a mix of the softmax head's
// distribution (weight share) and the ordinal head's, where
// P(level = l) = P(>= l) - P(>= l+1). The ordinal head lands nearer the
// gold level on an ordered scale; the softmax head is surer of the clear
// cases.
func lowLevel(z *[numHeads]float64, hi int, share float64) int {
	var soft [11]float64
	sum := 1.0
	if share > 0 {
		sum = softmax(z, &soft)
	}
	level, best := 0, math.Inf(-1)
	above := 1.0 // P(level >= 0)
	for l := 0; l <= hi; l++ {
		next := 0.0
		if l < 10 {
			next = sigmoid(z[ordinalHead+l+1])
		}
		if p := share*soft[l]/sum + (1-share)*(above-next); p > best {
			level, best = l, p
		}
		above = next
	}
	return level
}

// softmax fills soft with the softmax head's unnormalised probabilities
// and returns their sum.
func softmax(z *[numHeads]float64, soft *[11]float64) float64 {
	maxZ := math.Inf(-1)
	for l := 0; l <= 10; l++ {
		maxZ = math.Max(maxZ, z[softmaxHead+l])
	}
	sum := 0.0
	for l := 0; l <= 10; l++ {
		soft[l] = math.Exp(z[softmaxHead+l] - maxZ)
		sum += soft[l]
	}
	return sum
}

// highLevel grades a high-risk post (6-10) from the softmax head, which
// keeps more of the level 9-10 posts at 9-10 (the emergency route) than
// the ordinal head. When the softmax head places the post mostly below 6,
// the heads disagree: it is graded at the lowest high level rather than
// wherever the small high-level mass peaks.
func highLevel(z *[numHeads]float64) int {
	level := HighRiskLevel
	for l := HighRiskLevel + 1; l <= 10; l++ {
		if z[softmaxHead+l] > z[softmaxHead+level] {
			level = l
		}
	}
	var below, above float64
	for l := 0; l <= 10; l++ {
		e := math.Exp(z[softmaxHead+l] - z[softmaxHead+level])
		if l < HighRiskLevel {
			below += e
		} else {
			above += e
		}
	}
	if below > above {
		return HighRiskLevel
	}
	return level
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
