package classifier

import (
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
	seg.Words(text, func(_ int, w string) { out = append(out, w) })
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
