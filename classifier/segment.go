package classifier

import (
	"fmt"
	"os"

	"github.com/go-ego/gse"
)

// Segmenter cuts normalised text into words with gse, using lookout's own
// compact dictionary (models/segment-dict.txt: the 60,000 most frequent
// words of gse's Chinese dictionary plus the knowledge layer's distress
// phrases, kept whole) and the shortest-path mode without HMM, which is
// the fast one. The full default dictionary takes seconds and hundreds of
// MB to load and splits phrases such as 不想活了.
type Segmenter struct {
	seg gse.Segmenter
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
	return s, nil
}

// NumWords is the number of dictionary words loaded.
func (s *Segmenter) NumWords() int { return s.seg.Dict.NumTokens() }

// Words calls fn with each word of text and its byte offset, in order.
// The words are substrings of text (gse's own strings for them would cost
// an allocation each).
func (s *Segmenter) Words(text string, fn func(start int, word string)) {
	for _, sg := range s.seg.Segment(unsafeBytes(text)) { // gse only reads the bytes
		fn(sg.Start(), text[sg.Start():sg.End()])
	}
}
