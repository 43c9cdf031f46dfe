package classifier

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/tokenizer/pretrained"
)

// sharedData returns ../shared/data (beside the clone), or skips the test
// with the reason when it is absent (a user's clone has no shared data).
func sharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "sos4k", "train.jsonl")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has ../shared/data beside the clone, but %s is missing", dir)
		}
		t.Skipf("needs the data set in %s (present in CI beside the clone, absent from a plain clone)", dir)
	}
	return dir
}

func loadTestWordPiece(t testing.TB) *WordPiece {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "models", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := LoadWordPiece(f)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWordPieceMatchesSugarme: the fast tokenizer yields exactly the ids
// of github.com/sugarme/tokenizer on every post in ../shared/data and on
// hand-made edge cases.
func TestWordPieceMatchesSugarme(t *testing.T) {
	data := sharedData(t)
	ref, err := pretrained.FromFile(filepath.Join(data, "bert-base-chinese", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	fast := loadTestWordPiece(t)
	texts := []string{
		"", " ", "\t\n", "hello world", "Hello, World!!", "unaffable", "活着好累", "ＡＢＣ１２３", "a\u200db", "x\x00y",
		"emoji 😭😭 here", "[UNK] and [CLS]x[SEP]", "tab\tsep\rline\nend", "\u3000全角空格\u3000", "\u202eevil\u202c",
		"https://t.cn/A6abc?x=1&y=2", "@某人 你好", string(make([]byte, 0)) + "超长" + string(slices.Repeat([]rune("a"), 150)),
		"café naïve", "٣٤ ١٢", "𠀀𠀁", "ㄅㄆㄇ", "...!!!???", "a--b__c",
	}
	for _, f := range []string{"sos4k/train.jsonl", "sos4k/val.jsonl", "ewect/posts.jsonl", "weibo_random/posts.jsonl"} {
		texts = append(texts, readTexts(t, filepath.Join(data, f))...)
	}
	// Invalid UTF-8 is left out: sugarme emits its tokens twice there, and
	// the post decoder rejects invalid UTF-8 before anything is scored.
	mismatches := 0
	var ids []int32
	for _, text := range texts {
		enc, err := ref.EncodeSingle(text, false)
		if err != nil {
			t.Fatalf("sugarme: %v", err)
		}
		want := enc.GetIds()
		ids = fast.Encode(text, ids[:0])
		same := len(ids) == len(want)
		for i := 0; same && i < len(ids); i++ {
			same = int(ids[i]) == want[i]
		}
		if !same {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("ids differ for %q:\n fast    %v\n sugarme %v", text, ids, want)
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d texts differ", mismatches, len(texts))
	}
	t.Logf("identical ids on %d texts", len(texts))
}

func readTexts(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r.Text)
	}
	return out
}
