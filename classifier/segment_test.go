package classifier

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadTestSegmenter(t testing.TB) *Segmenter {
	t.Helper()
	seg, err := LoadSegmenter(filepath.Join("..", "models", "segment-dict.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func words(seg *Segmenter, text string) []string {
	var out []string
	seg.Words(text, &segScratch{}, func(_ int, w string) { out = append(out, w) })
	return out
}

// The shipped dictionary keeps the distress phrases whole, and Words
// yields what gse's own Slice does, covering the text.
func TestSegmenterKeepsDistressPhrases(t *testing.T) {
	seg := loadTestSegmenter(t)
	if seg.NumWords() < 10000 {
		t.Fatalf("dictionary has %d words", seg.NumWords())
	}
	for text, phrase := range map[string]string{
		"我真的不想活了":     "不想活了",
		"每天都觉得活着好累":   "活着好累",
		"我想今晚结束生命":    "结束生命",
		"今天天气不错，出去走走": "天气",
	} {
		got := words(seg, text)
		if !slices.Contains(got, phrase) {
			t.Errorf("%q segmented as %q: %q not whole", text, got, phrase)
		}
	}
	for _, text := range []string{"", "abc 123 天气", "😭😭 我好累 http://x 。。。", "不想活了不想活了", "x"} {
		got := words(seg, text)
		if strings.Join(got, "") != text {
			t.Errorf("%q: words %q do not cover the text", text, got)
		}
		want := seg.seg.Slice(text)
		if len(want) == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: Words %q, gse Slice %q", text, got, want)
		}
	}
}

// gseWords is what gse's own Segment gives: the reference Words must equal.
func gseWords(seg *Segmenter, text string) []string {
	var out []string
	for _, sg := range seg.seg.Segment([]byte(text)) {
		out = append(out, fmt.Sprintf("%d:%s", sg.Start(), text[sg.Start():sg.End()]))
	}
	return out
}

func ourWords(seg *Segmenter, sc *segScratch, text string) []string {
	var out []string
	seg.Words(text, sc, func(start int, w string) { out = append(out, fmt.Sprintf("%d:%s", start, w)) })
	return out
}

// TestWordsAreGseSegments: Words, which runs gse's shortest-path search
// over gse's dictionary without gse's allocations, gives exactly gse's
// words and offsets: on hand-made edge cases (Latin runs, capitals,
// Cyrillic, digits, emoji, invalid UTF-8, phrases longer than any word)
// and on every post of the data set, as written and normalised.
func TestWordsAreGseSegments(t *testing.T) {
	seg := loadTestSegmenter(t)
	var sc segScratch
	check := func(text string) bool {
		got, want := ourWords(seg, &sc, text), gseWords(seg, text)
		if !slices.Equal(got, want) {
			t.Errorf("%q:\n Words %q\n gse   %q", text, got, want)
			return false
		}
		return true
	}
	for _, text := range []string{
		"", "x", "ABC def", "iPhone12很好用", "ДОМ дом Ωmega", "2020年1月6日", "😭😭我好累😭",
		"\xff\xfe不想活了", "不想活了不想活了不想活了", "a1b2c3 我想今晚结束生命。。。", "É é ß",
		strings.Repeat("活着好累", 200), "http://t.cn/abc 安眠药 100片",
	} {
		check(text)
	}
	dir := sharedData(t)
	var n normalized
	posts, failed := 0, 0
	for _, f := range []string{"sos4k/train.jsonl", "sos4k/val.jsonl", "ewect/posts.jsonl", "weibo_random/posts.jsonl"} {
		for _, text := range readTexts(t, filepath.Join(dir, f)) {
			normalize(text, &n)
			for _, v := range []string{text, string(n.runes)} {
				posts++
				if !check(v) {
					if failed++; failed > 5 {
						t.Fatalf("more differences after %d texts", posts)
					}
				}
			}
		}
	}
	t.Logf("%d texts, the same words", posts)
}
