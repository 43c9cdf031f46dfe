package classifier

import (
	"path/filepath"
	"testing"
)

// benchTexts returns the weibo_random posts (the realistic stream), or
// skips without the data set.
func benchTexts(b *testing.B) []string {
	data := sharedData(b)
	return readTexts(b, filepath.Join(data, "weibo_random", "posts.jsonl"))
}

func BenchmarkNormalize(b *testing.B) {
	texts := benchTexts(b)
	var n normalized
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		normalize(texts[i%len(texts)], &n)
	}
}

func BenchmarkSegment(b *testing.B) {
	texts := benchTexts(b)
	seg, err := LoadSegmenter(filepath.Join("..", "models", "segment-dict.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	words := 0
	var sc segScratch
	for i := 0; i < b.N; i++ {
		seg.Words(texts[i%len(texts)], &sc, func(int, string) { words++ })
	}
	if words == 0 {
		b.Fatal("no words")
	}
}

func BenchmarkWordPiece(b *testing.B) {
	texts := benchTexts(b)
	wp := loadTestWordPiece(b)
	var ids []int32
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids = wp.Encode(texts[i%len(texts)], ids[:0])
	}
}

// BenchmarkScore is the whole scorer on one core: normalisation, the
// knowledge layer, tokenisation, segmentation, features and the model.
// posts/s = 1e9 / ns/op.
func BenchmarkScore(b *testing.B) {
	texts := benchTexts(b)
	c := trainedClassifier(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Score(texts[i%len(texts)]); err != nil && err != ErrEmpty {
			b.Fatal(err)
		}
	}
}

// BenchmarkStackers is the stacking layer alone (three small networks a
// post), the part of BenchmarkScore that does not depend on the post's
// length.
func BenchmarkStackers(b *testing.B) {
	ss := trainedClassifier(b).model.Meta.Stackers
	var z [stackDense]float64
	for i := range z {
		z[i] = float64(i%5) - 2
	}
	var x [stackDim]float64
	stackInput(&z, 3, &x)
	var p [11]float64
	b.ReportAllocs()
	sum := 0.0
	for b.Loop() {
		sum += ss.grade(&x, 3, &p)
	}
	if sum <= 0 {
		b.Fatal("p_high was never above zero")
	}
}
