package classifier

import (
	"cmp"
	"slices"
	"unicode/utf8"
)

// KindModel marks words the trained model weighs most toward high risk.
// The knowledge layer's phrases explain most flagged posts, not all: "想找
// 个人一起，有吗" or "炭备好了，再熬几天" name no phrase of it, and a
// volunteer should still see what the grade rests on.
const KindModel Kind = "model"

// Model evidence is at most maxModelSpans spans of words that weigh
// toward high risk in two heads: the high-risk head, fitted against all
// posts (the ordinary ones too, so that the tree hole's own words, 吗 and
// 然后, weigh in it as well), and the naive Bayes ratio of "level >= 6"
// against the labeled posts below 6, within the tree hole, which those
// words do not pass (遗书, 手腕, 炭, 一起 pass both). A word's weight in a
// head is that of the word and of its WordPiece unigrams and the bigrams
// within it.
const (
	maxModelSpans = 3
	minHighWeight = 1.0 // high-risk head, a logit before the post's 1/sqrt scaling
	minNBRatio    = 1.0 // a log-count ratio (natural log), summed as above
	nbWithin      = nbHead + 1
)

// wordWeight is a word of the post (byte offsets in s.buf) and its
// summed high-risk weight.
type wordWeight struct {
	start, end int
	w          float64
}

// explain appends to hits the spans of a post (already graded, so s.buf
// holds its text as the features saw it) whose words weigh most toward
// high risk: a word's weight is the high-risk head's weight of the word
// plus those of its WordPiece unigrams and the bigrams within it. Spans a
// knowledge hit overlaps are left out (that phrase is shown already), and
// touching words are joined into one span. It runs only for flagged
// posts and those with a plausible p_high (under half of a tree hole's
// posts, few of an ordinary stream's), so it may cost more than the
// scoring path. A flagged post that would still show nothing gets its
// heaviest words in the high-risk head alone (see heaviest).
func (m *Model) explain(s *scratch, hits []hit, flagged bool) []hit {
	if len(s.words) == 0 {
		return hits
	}
	// at[b] is the normalised rune that byte b of s.buf came from, by
	// extract's rule (a mask is one space). Built here, for flagged posts
	// only, rather than in extract for every post: that cost BenchmarkScore
	// about 3% (paired runs).
	at := s.at[:0]
	mi := 0
	for i, r := range s.norm.runes {
		for mi < len(s.masks) && s.masks[mi].end <= i {
			mi++
		}
		if mi < len(s.masks) && s.masks[mi].start <= i {
			if s.masks[mi].start == i {
				at = append(at, int32(i))
			}
			continue
		}
		n := utf8.RuneLen(r)
		if n < 0 {
			n = 3 // written as U+FFFD
		}
		for range n {
			at = append(at, int32(i))
		}
	}
	s.at = at
	if len(at) != len(s.buf) {
		return hits // cannot happen while extract builds s.buf this way
	}
	q := m.Meta.Quantization
	words := s.weighed[:0]
	ids := s.wordIDs
	for _, sp := range s.words {
		w := unsafeString(s.buf[sp[0]:sp[1]])
		var high, nb int
		high, nb, ids = m.wordWeights(w, ids[:0])
		if wt := float64(high) * q; wt >= minHighWeight && float64(nb)*q/nbScale >= minNBRatio {
			words = append(words, wordWeight{start: int(sp[0]), end: int(sp[1]), w: wt})
		}
	}
	s.wordIDs = ids
	// The heaviest words that no knowledge hit overlaps, in text order.
	slices.SortStableFunc(words, func(a, b wordWeight) int { return cmp.Compare(b.w, a.w) })
	kept := words[:0]
	for _, w := range words {
		if len(kept) == maxModelSpans {
			break
		}
		from, to := int(at[w.start]), int(at[w.end-1])+1
		shown := false
		for _, h := range hits {
			if h.start < to && from < h.end {
				shown = true
				break
			}
		}
		if !shown {
			kept = append(kept, wordWeight{start: from, end: to, w: w.w})
		}
	}
	s.weighed = words
	slices.SortFunc(kept, func(a, b wordWeight) int { return a.start - b.start })
	for i, w := range kept {
		if i > 0 && hits[len(hits)-1].kind == KindModel && hits[len(hits)-1].end == w.start {
			hits[len(hits)-1].end = w.end
			continue
		}
		hits = append(hits, hit{start: w.start, end: w.end, kind: KindModel})
	}
	if flagged && len(hits) == 0 {
		if w, ok := m.heaviest(s); ok {
			hits = append(hits, hit{start: int(at[w.start]), end: int(at[w.end-1]) + 1, kind: KindModel})
		}
	}
	return hits
}

// wordWeights returns the weights of a word in the high-risk head and
// the naive Bayes "level >= 6 within the tree hole" ratio (quantised
// units): the word's own plus its WordPiece unigrams' and the bigrams'
// within it; and the word's ids, written over ids.
func (m *Model) wordWeights(w string, ids []int32) (high, nb int, _ []int32) {
	add := func(k uint64) {
		if row := m.table.get(k); row != nil {
			high += int(row[0])
			nb += int(row[nbWithin])
		}
	}
	if len(w) > 3 {
		add(wordKey(w))
	}
	ids = m.feat.wp.encodeWord(w, ids)
	for i, id := range ids {
		add(uniKey(id))
		if i+1 < len(ids) {
			add(biKey(id, ids[i+1]))
		}
	}
	return high, nb, ids
}

// heaviest is the span of one word, or two touching words, that weighs
// most toward high risk in the high-risk head alone, if it weighs at
// least minHighWeight. It explains the few flagged posts that name no
// phrase of the knowledge layer and no word that passes both heads:
// "我走了" rests on 走了 (走 and the bigram 走了; 了 alone weighs against),
// "我还想着生日的时候死去" on 死去, which the tree hole also writes below
// level 6. A pair adds the WordPiece bigram and the word bigram across
// the two words, as the features count them, and is a candidate only when
// those weigh at least minHighWeight.
func (m *Model) heaviest(s *scratch) (wordWeight, bool) {
	q := m.Meta.Quantization
	best := wordWeight{w: minHighWeight - 1}
	var prev struct {
		start, end, high int
		last             int32 // the previous word's last WordPiece id, or -1
		key              uint64
	}
	prev.end = -1
	ids := s.wordIDs
	for _, sp := range s.words {
		w := unsafeString(s.buf[sp[0]:sp[1]])
		var high int
		high, _, ids = m.wordWeights(w, ids[:0])
		if wt := float64(high) * q; wt > best.w {
			best = wordWeight{start: int(sp[0]), end: int(sp[1]), w: wt}
		}
		key := wordKey(w)
		if int(sp[0]) == prev.end && len(ids) > 0 {
			cross := 0
			if row := m.table.get(mix(mix(fWordBi, prev.key), key)); row != nil {
				cross += int(row[0])
			}
			if prev.last >= 0 {
				if row := m.table.get(biKey(prev.last, ids[0])); row != nil {
					cross += int(row[0])
				}
			}
			// Only a pair that weighs as a pair: 时候 beside 死去 adds
			// its own weight, not the pair's.
			if float64(cross)*q >= minHighWeight {
				if wt := float64(prev.high+high+cross) * q; wt > best.w {
					best = wordWeight{start: prev.start, end: int(sp[1]), w: wt}
				}
			}
		}
		prev.start, prev.end, prev.high, prev.key, prev.last = int(sp[0]), int(sp[1]), high, key, -1
		if len(ids) > 0 {
			prev.last = ids[len(ids)-1]
		}
	}
	s.wordIDs = ids
	return best, best.w >= minHighWeight
}
