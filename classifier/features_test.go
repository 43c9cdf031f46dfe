package classifier

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestFeaturesKnowTheirClause: a post's n-grams and words carry the clause
// they sit in (a run of punctuation, white space among it, ends one
// clause; the marks belong to the clause they end), features of the whole
// post carry none, so a head's logit can be taken clause by clause.
func TestFeaturesKnowTheirClause(t *testing.T) {
	f := &featurizer{wp: loadTestWordPiece(t), seg: loadTestSegmenter(t)}
	s := &scratch{}
	normalize("今天很开心！！明天去上班。 ？我想死", &s.norm)
	s.hits, s.masks = newMatcher().find(s.norm.runes, s.hits, s.masks)
	f.extract(s)
	if len(s.clauses) != len(s.feats) {
		t.Fatalf("%d clauses for %d features", len(s.clauses), len(s.feats))
	}
	uni := func(r string) uint64 { return mix(fUni, uint64(f.wp.Encode(r, nil)[0])) }
	want := map[uint64]uint8{
		uni("今"): 0, uni("心"): 0, uni("!"): 0,
		uni("明"): 1, uni("班"): 1, uni("。"): 1, uni("?"): 1, hashString(fWord, "上班"): 1,
		uni("我"): 2, uni("死"): 2,
		fBias: noClause, mix(fRule, uint64(ruleLevel(s.hits))): noClause,
	}
	got := map[uint64]uint8{}
	for i, k := range s.feats {
		got[k] = s.clauses[i]
	}
	for k, c := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("feature %x missing", k)
		} else if g != c {
			t.Errorf("feature %x in clause %d, want %d", k, g, c)
		}
	}
}

// TestClausesKeepTheIds: tokenizing a post clause by clause yields exactly
// the ids of tokenizing it whole, on every post of the data set (a clause
// ends at punctuation or white space, where WordPiece splits anyway).
func TestClausesKeepTheIds(t *testing.T) {
	data := sharedData(t)
	f := &featurizer{wp: loadTestWordPiece(t), seg: loadTestSegmenter(t)}
	m := newMatcher()
	s := &scratch{}
	n, multi := 0, 0
	for _, file := range []string{"sos4k/train.jsonl", "sos4k/val.jsonl", "ewect/posts.jsonl", "weibo_random/posts.jsonl"} {
		for _, text := range readTexts(t, filepath.Join(data, file)) {
			normalize(text, &s.norm)
			s.hits, s.masks = m.find(s.norm.runes, s.hits, s.masks)
			f.extract(s)
			whole := f.wp.Encode(string(s.buf), nil)
			if !slices.Equal(whole, s.ids) {
				t.Fatalf("%s post %d: clause by clause %v, whole %v", file, n, s.ids, whole)
			}
			n++
			if len(s.cuts) > 0 {
				multi++
			}
		}
	}
	if multi < n/10 {
		t.Fatalf("only %d of %d posts have more than one clause", multi, n)
	}
	t.Logf("%d posts, %d with more than one clause", n, multi)
}
