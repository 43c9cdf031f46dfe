package classifier

import (
	"math"
	"unicode/utf8"
)

// Feature keys are 64-bit hashes of a feature's type and content, so
// extraction allocates nothing. The model keeps the keys it was trained
// with; others are ignored.

const (
	fUni uint64 = iota + 1
	fBi
	_ // was trigrams: measured no better, and 95 lookups a post slower
	fWord
	fWordBi
	fKind
	fKindPair
	fRule
	fLen
	fBias
	fMask
)

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	h *= 0xbf58476d1ce4e5b9
	return h ^ (h >> 31)
}

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x100000001b3
	}
	return mix(h, uint64(len(s)))
}

// The keys of WordPiece unigrams and bigrams and of gse words.
func uniKey(id int32) uint64     { return mix(fUni, uint64(id)) }
func biKey(a, b int32) uint64    { return mix(mix(fBi, uint64(a)), uint64(b)) }
func wordKey(word string) uint64 { return hashString(fWord, word) }

// featurizer turns one post into feature keys. It needs the tokenizer and
// the segmenter; both are read-only after loading and safe to share.
type featurizer struct {
	wp  *WordPiece
	seg *Segmenter
}

// noClause marks a feature of the whole post (a mask, the kinds found,
// the rule level, the length, the bias), in no clause.
const noClause = 0xff

// maxClause is the last clause index; later clauses count as this one.
const maxClause = 31

// endsClause reports whether r ends a clause (after normalisation): a
// sentence, since clauses ended by commas too measured worse, and white
// space ending one no better (model card). A run of such marks, white
// space among them, ends one clause.
func endsClause(r rune) bool {
	switch r {
	case '。', '!', '?', ';', '.', '~':
		return true
	}
	return false
}

// extract appends the feature keys of a normalised post to s.feats
// (deduplicated) and the clause each was first seen in to s.clauses.
func (f *featurizer) extract(s *scratch) {
	feats := s.feats[:0]
	clauses := s.clauses[:0]
	s.buf, s.words = s.buf[:0], s.words[:0]
	// Text under a mask (negation, hyperbole: 不想死, 笑死) is left out of
	// the n-grams and words, so 死 in 笑死 does not count as 死; the mask
	// itself is a feature.
	// A clause starts at the first rune after a run of marks that end one;
	// s.cuts holds the byte offsets in s.buf where clauses 1, 2… start.
	mi := 0
	s.cuts = s.cuts[:0]
	end := false
	for i, r := range s.norm.runes {
		for mi < len(s.masks) && s.masks[mi].end <= i {
			mi++
		}
		if mi < len(s.masks) && s.masks[mi].start <= i {
			if s.masks[mi].start == i {
				s.buf = append(s.buf, ' ')
				h := uint64(fMask)
				for _, mr := range s.norm.runes[s.masks[mi].start:s.masks[mi].end] {
					h = mix(h, uint64(mr))
				}
				feats = append(feats, h)
				clauses = append(clauses, noClause)
			}
			continue
		}
		e := endsClause(r)
		if r == ' ' {
			e = end // white space continues a run of marks, or a clause
		}
		if end && !e && len(s.cuts) < maxClause {
			s.cuts = append(s.cuts, len(s.buf))
		}
		end = e
		s.buf = utf8.AppendRune(s.buf, r)
	}
	text := unsafeString(s.buf)
	// Each clause is tokenized on its own (the ids are the same as the
	// whole text's: a clause ends at white space or punctuation, where
	// WordPiece splits anyway), so each id knows its clause.
	ids, idClause := s.ids[:0], s.idClause[:0]
	from := 0
	for c := 0; c <= len(s.cuts); c++ {
		to := len(text)
		if c < len(s.cuts) {
			to = s.cuts[c]
		}
		ids = f.wp.Encode(text[from:to], ids)
		for len(idClause) < len(ids) {
			idClause = append(idClause, uint8(c))
		}
		from = to
	}
	s.ids, s.idClause = ids, idClause
	for i, id := range ids {
		feats = append(feats, uniKey(id))
		clauses = append(clauses, idClause[i])
		if i+1 < len(ids) {
			feats = append(feats, biKey(id, ids[i+1]))
			clauses = append(clauses, idClause[i])
		}
	}
	if f.seg != nil {
		prev := uint64(0)
		var c uint8
		words := s.words
		f.seg.Words(text, &s.seg, func(start int, w string) {
			if w == " " {
				return
			}
			words = append(words, [2]int32{int32(start), int32(start + len(w))})
			for int(c) < len(s.cuts) && s.cuts[c] <= start {
				c++
			}
			h := wordKey(w)
			if len(w) > 3 { // more than one CJK character
				feats = append(feats, h)
				clauses = append(clauses, c)
			}
			if prev != 0 {
				feats = append(feats, mix(mix(fWordBi, prev), h))
				clauses = append(clauses, c)
			}
			prev = h
		})
		s.words = words
	}
	post := len(feats)
	var kinds [8]bool
	for _, h := range s.hits {
		k := kindIndex(h.kind)
		kinds[k] = true
		if h.strong {
			feats = append(feats, mix(fKind, uint64(k+16)))
		}
	}
	for i := range kinds {
		if !kinds[i] {
			continue
		}
		feats = append(feats, mix(fKind, uint64(i)))
		for j := i + 1; j < len(kinds); j++ {
			if kinds[j] {
				feats = append(feats, mix(mix(fKindPair, uint64(i)), uint64(j)))
			}
		}
	}
	feats = append(feats, mix(fRule, uint64(ruleLevel(s.hits))))
	feats = append(feats, mix(fLen, uint64(math.Log2(float64(len(s.norm.runes)+1)))))
	feats = append(feats, fBias)
	for range len(feats) - post {
		clauses = append(clauses, noClause)
	}
	s.feats, s.clauses = s.seen.dedupe(feats, clauses)
}

// seenSet deduplicates one post's feature keys in linear time: an
// open-addressing table whose slots are valid only for the current stamp,
// so it is never cleared.
type seenSet struct {
	keys   []uint64
	stamps []uint32
	stamp  uint32
}

func (s *seenSet) dedupe(feats []uint64, clauses []uint8) ([]uint64, []uint8) {
	need := 1
	for need < 2*len(feats) {
		need <<= 1
	}
	if len(s.keys) < need {
		s.keys, s.stamps, s.stamp = make([]uint64, need), make([]uint32, need), 0
	}
	s.stamp++
	if s.stamp == 0 { // wrapped: old stamps could collide
		clear(s.stamps)
		s.stamp = 1
	}
	mask := uint64(len(s.keys) - 1)
	out, outC := feats[:0], clauses[:0]
	for i, k := range feats {
		j := (k * 0x9e3779b97f4a7c15 >> 20) & mask
		for {
			if s.stamps[j] != s.stamp {
				s.stamps[j], s.keys[j] = s.stamp, k
				out = append(out, k)
				outC = append(outC, clauses[i])
				break
			}
			if s.keys[j] == k {
				break
			}
			j = (j + 1) & mask
		}
	}
	return out, outC
}

func kindIndex(k Kind) int {
	switch k {
	case KindProgress:
		return 0
	case KindMethod:
		return 1
	case KindTime:
		return 2
	case KindPlan:
		return 3
	case KindFarewell:
		return 4
	case KindIntent:
		return 5
	case KindPain:
		return 6
	}
	return 7
}
