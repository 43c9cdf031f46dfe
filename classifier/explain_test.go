package classifier

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// checkEvidence fails unless every span quotes text at its rune offsets,
// the spans are in text order and no model span overlaps another span.
func checkEvidence(t *testing.T, text string, ev []Evidence) {
	t.Helper()
	runes := []rune(text)
	models := 0
	for i, e := range ev {
		if e.Start < 0 || e.End > len(runes) || e.Start >= e.End || string(runes[e.Start:e.End]) != e.Text {
			t.Errorf("%q: evidence %+v does not quote the text at its offsets", text, e)
		}
		if i > 0 && ev[i-1].Start > e.Start {
			t.Errorf("%q: evidence out of text order: %v", text, ev)
		}
		if e.Kind != KindModel {
			continue
		}
		models++
		for j, o := range ev {
			if j != i && o.Start < e.End && e.Start < o.End {
				t.Errorf("%q: model span %+v overlaps %+v", text, e, o)
			}
		}
	}
	if models > maxModelSpans {
		t.Errorf("%q: %d model spans, want at most %d", text, models, maxModelSpans)
	}
}

func modelSpans(ev []Evidence) []string {
	var out []string
	for _, e := range ev {
		if e.Kind == KindModel {
			out = append(out, e.Text)
		}
	}
	return out
}

// TestModelEvidence: a flagged post that names no phrase of the knowledge
// layer still shows the words the model weighed; the spans quote the
// original text through masks, traditional characters and full-width
// marks; a post under the threshold shows none, and function words are
// never shown.
func TestModelEvidence(t *testing.T) {
	c := trainedClassifier(t)
	cases := []struct {
		text string
		want string // a model span the evidence must hold
		only bool   // and the evidence must be that span alone
	}{
		{"谁能告诉我哪种死法最不痛", "死法", false},
		{"有没有人一起走的？", "一起", false},
		// 不想死 is a mask, one space in the features' text: offsets after
		// it must still point at the original; 嗎 is folded to 吗.
		{"不想死了哈哈，有没有一起的嗎？", "有没有一起", false},
		{"割腕不适合我，我得换个死法", "死法", false},
		// No knowledge phrase and no word that passes both heads: the
		// heaviest words in the high-risk head alone. 走了 weighs as a pair
		// (了 alone weighs against), 死去 alone (时候 beside it adds only its
		// own weight).
		{"我走了", "走了", true},
		{"我还想着生日的时候死去", "死去", true},
	}
	for _, tc := range cases {
		res, err := c.Score(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if res.Level < HighRiskLevel {
			t.Fatalf("%q: level %d; the case needs a flagged post", tc.text, res.Level)
		}
		checkEvidence(t, tc.text, res.Evidence)
		found := false
		for _, s := range modelSpans(res.Evidence) {
			found = found || s == tc.want
			for _, fw := range []string{"吗", "的", "我", "嗎"} {
				if s == fw {
					t.Errorf("%q: function word %q shown as evidence", tc.text, s)
				}
			}
		}
		if !found {
			t.Errorf("%q: no model span %q in %v", tc.text, tc.want, res.Evidence)
		}
		if tc.only && len(res.Evidence) != 1 {
			t.Errorf("%q: evidence %v, want the one model span %q", tc.text, res.Evidence, tc.want)
		}
	}
	// The knowledge layer's phrase is shown once, under its own kind.
	res, _ := c.Score("割腕不适合我，我得换个死法")
	if len(res.Evidence) == 0 || res.Evidence[0].Kind != KindMethod || res.Evidence[0].Text != "割腕" {
		t.Errorf("割腕 should stay method evidence: %v", res.Evidence)
	}
	for _, calm := range []string{"今天天气很好，我们去公园散步。", "晚饭吃了火锅，好开心"} {
		res, err := c.Score(calm)
		if err != nil {
			t.Fatal(err)
		}
		if len(modelSpans(res.Evidence)) > 0 {
			t.Errorf("%q (level %d, p_high %.3f): model evidence %v on a calm post", calm, res.Level, res.PHigh, res.Evidence)
		}
	}
	// A post the model does not flag but gives a plausible p_high (one a
	// moderator's routing p_high can queue) shows its words too.
	res, err := c.Score("有时候会想到尸体被发现的样子")
	if err != nil {
		t.Fatal(err)
	}
	if res.Level >= HighRiskLevel || res.PHigh < plausiblePHigh {
		t.Fatalf("the case needs an unflagged post with p_high >= %v: level %d, p_high %.3f", plausiblePHigh, res.Level, res.PHigh)
	}
	if got := modelSpans(res.Evidence); !slices.Contains(got, "尸体") {
		t.Errorf("level %d, p_high %.3f: model spans %v, want 尸体", res.Level, res.PHigh, got)
	}
}

// TestModelEvidenceOnValidation: on every flagged post of the validation
// set the spans are well formed and there is at least one (the knowledge
// layer's alone left 10 of 241 bare; with words that pass both heads, 4
// of 251 were).
func TestModelEvidenceOnValidation(t *testing.T) {
	dir := sharedData(t)
	f, err := os.Open(filepath.Join(dir, "sos4k", "val.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := trainedClassifier(t)
	flagged, bare, withModel := 0, 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		res, err := c.Score(p.Text)
		if err != nil || res.Level < HighRiskLevel {
			continue
		}
		flagged++
		checkEvidence(t, p.Text, res.Evidence)
		if len(res.Evidence) == 0 {
			bare++
		}
		if len(modelSpans(res.Evidence)) > 0 {
			withModel++
		}
	}
	t.Logf("%d flagged, %d with model spans, %d with no evidence", flagged, withModel, bare)
	if flagged == 0 || bare > 0 {
		t.Errorf("%d of %d flagged posts show no evidence, want none", bare, flagged)
	}
}
