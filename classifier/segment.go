package classifier

import (
	"fmt"
	"math"
	"os"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/go-ego/gse"
)

// Segmenter cuts normalised text into words with gse, using lookout's own
// compact dictionary (models/segment-dict.txt: the 60,000 most frequent
// words of gse's Chinese dictionary plus the knowledge layer's distress
// phrases, kept whole) and the shortest-path mode without HMM, which is
// the fast one. The full default dictionary takes seconds and hundreds of
// MB to load and splits phrases such as 不想活了.
//
// gse loads the dictionary and looks the words up in its trie; Words runs
// gse's shortest-path search itself, over buffers the caller keeps, since
// gse's own Segment allocates a slice of units, a token for every
// character not in the dictionary and the result: about half its time.
// Words gives exactly the words of gse's Segment (tested on every post
// of the data set).
type Segmenter struct {
	seg gse.Segmenter
	// words[i] is the dictionary's i-th token: its path distance, as gse
	// computes it (log2 of the total frequency less log2 of the token's,
	// in float32), and its length in units.
	words  []dictWord
	maxLen int
}

type dictWord struct {
	dist  float32
	units int
}

// segScratch is Words' working memory, reused across calls.
type segScratch struct {
	units  []gse.Text // gse's text units: a character, or a run of Latin letters and digits
	starts []int      // byte offset of each unit, and the text's length
	jump   []jumper
	tokens []*gse.Token
	lower  []byte // units lowercased, when the text has ASCII capitals
	ends   []int
}

// jumper is the shortest path found to the end of a unit: its distance
// and the length, in units, of the path's last word.
type jumper struct {
	dist float32
	n    int
}

// LoadSegmenter reads a dictionary file of "word frequency" lines.
func LoadSegmenter(path string) (*Segmenter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("segmentation dictionary: %w", err)
	}
	return newSegmenter(string(b))
}

func newSegmenter(dict string) (*Segmenter, error) {
	s := &Segmenter{}
	s.seg.SkipLog = true
	s.seg.NotStop = true
	// Shortest-path segmentation only: gse's HMM model is not used, and
	// loading it writes package-level maps in gse (a data race when two
	// segmenters load at once, as the folds of lookout train --cv do).
	s.seg.NotLoadHMM = true
	if err := s.seg.LoadDictStr(dict); err != nil {
		return nil, fmt.Errorf("segmentation dictionary: %w", err)
	}
	// A dictionary that silently loaded nothing would make every word a
	// single character: refuse it.
	if s.seg.Dict == nil || s.seg.Dict.NumTokens() == 0 {
		return nil, fmt.Errorf("segmentation dictionary: loaded no words")
	}
	logTotal := float32(math.Log2(s.seg.Dict.TotalFreq()))
	s.words = make([]dictWord, len(s.seg.Dict.Tokens))
	var sc segScratch
	for i := range s.seg.Dict.Tokens {
		t := &s.seg.Dict.Tokens[i]
		s.split(t.Text(), &sc)
		s.words[i] = dictWord{dist: logTotal - float32(math.Log2(t.Freq())), units: len(sc.units)}
	}
	s.maxLen = s.seg.Dict.MaxTokenLen()
	return s, nil
}

// NumWords is the number of dictionary words loaded.
func (s *Segmenter) NumWords() int { return s.seg.Dict.NumTokens() }

// tokenIndex is the index of t in the dictionary's tokens (LookupTokens
// returns pointers into that slice).
func (s *Segmenter) tokenIndex(t *gse.Token) int {
	return int((uintptr(unsafe.Pointer(t)) - uintptr(unsafe.Pointer(&s.seg.Dict.Tokens[0]))) / unsafe.Sizeof(*t))
}

// Words calls fn with each word of text and its byte offset, in order.
// The words are substrings of text.
func (s *Segmenter) Words(text string, sc *segScratch, fn func(start int, word string)) {
	if len(text) == 0 {
		return
	}
	s.split(text, sc)
	units := sc.units
	if cap(sc.jump) < len(units) {
		sc.jump = make([]jumper, len(units))
	}
	jump := sc.jump[:len(units)]
	clear(jump)
	if cap(sc.tokens) < s.maxLen {
		sc.tokens = make([]*gse.Token, s.maxLen)
	}
	tokens := sc.tokens[:s.maxLen]
	// gse's search, step for step: from each unit, every dictionary word
	// starting there extends the shortest path to the unit before it; a
	// unit that is no word on its own is a pseudo-word of distance 32.
	// A path replaces another only when strictly shorter (or the first).
	for cur := range units {
		var base float32
		if cur > 0 {
			base = jump[cur-1].dist
		}
		n := s.seg.Dict.LookupTokens(units[cur:min(cur+s.maxLen, len(units))], tokens)
		for _, t := range tokens[:n] {
			w := &s.words[s.tokenIndex(t)]
			j := &jump[cur+w.units-1]
			if d := base + w.dist; j.dist == 0 || j.dist > d {
				j.dist, j.n = d, w.units
			}
		}
		if n == 0 || s.words[s.tokenIndex(tokens[0])].units > 1 {
			j := &jump[cur]
			if d := base + 32; j.dist == 0 || j.dist > d {
				j.dist, j.n = d, 1
			}
		}
	}
	ends := sc.ends[:0]
	for i := len(units) - 1; i >= 0; i -= jump[i].n {
		ends = append(ends, i)
	}
	sc.ends = ends
	start := 0
	for k := len(ends) - 1; k >= 0; k-- {
		end := sc.starts[ends[k]+1]
		fn(start, text[start:end])
		start = end
	}
}

// split cuts text into gse's units (SplitTextToWords): a run of letters
// and digits of at most two bytes each (Latin, Greek, Cyrillic…) is one
// unit, looked up lowercased (ASCII); any other character is a unit of
// its own.
func (s *Segmenter) split(text string, sc *segScratch) {
	units, starts := sc.units[:0], sc.starts[:0]
	lower := sc.lower[:0]
	hasUpper := false
	for i := 0; i < len(text); i++ {
		if c := text[i]; 'A' <= c && c <= 'Z' {
			hasUpper = true
			break
		}
	}
	if hasUpper {
		lower = append(lower, text...)
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
	}
	src := unsafeBytes(text)
	if hasUpper {
		src = lower
	}
	run := -1 // start of the current run of letters and digits
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if size <= 2 && (unicode.IsLetter(r) || unicode.IsNumber(r)) {
			if run < 0 {
				run = i
			}
			i += size
			continue
		}
		if run >= 0 {
			units, starts = append(units, src[run:i]), append(starts, run)
			run = -1
		}
		units, starts = append(units, src[i:i+size]), append(starts, i)
		i += size
	}
	if run >= 0 {
		units, starts = append(units, src[run:]), append(starts, run)
	}
	sc.units, sc.starts, sc.lower = units, append(starts, len(text)), lower
}
