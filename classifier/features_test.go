package classifier

import "testing"

// TestFeaturesKnowTheirClause: a post's n-grams and words carry the clause
// they sit in (a run of punctuation ends one clause; the mark belongs to
// the clause it ends), features of the whole post carry none, so a head's
// logit can be taken clause by clause.
func TestFeaturesKnowTheirClause(t *testing.T) {
	f := newFeaturizer(loadTestWordPiece(t), loadTestSegmenter(t))
	s := &scratch{}
	normalize("今天很开心！！明天去上班。我想死", &s.norm)
	s.hits, s.masks = newMatcher().find(s.norm.runes, s.hits, s.masks)
	f.extract(s)
	if len(s.clauses) != len(s.feats) {
		t.Fatalf("%d clauses for %d features", len(s.clauses), len(s.feats))
	}
	uni := func(r string) uint64 { return mix(fUni, uint64(f.wp.Encode(r, nil)[0])) }
	want := map[uint64]uint8{
		uni("今"): 0, uni("心"): 0, uni("!"): 0,
		uni("明"): 1, uni("班"): 1, uni("。"): 1, hashString(fWord, "上班"): 1,
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
