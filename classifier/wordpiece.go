package classifier

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WordPiece is a bert-base-chinese WordPiece tokenizer that yields exactly
// the ids of github.com/sugarme/tokenizer built from the same vocabulary
// (BertNormalizer with clean_text and handle_chinese_chars, no lowercasing;
// BertPreTokenizer; WordPiece with "##" and 100 runes a word), without its
// allocations. The equivalence is tested on every post of the data set.
type WordPiece struct {
	vocab   map[string]int32 // word-initial pieces
	cont    map[string]int32 // continuation pieces, without the "##"
	special []specialToken
	// cjk maps the runes U+3400-U+9FFF, each a word of its own, straight
	// to their ids (or [UNK]), skipping the string map.
	cjk      []int32
	unk      int32
	maxRunes int
}

type specialToken struct {
	text string
	id   int32
}

// LoadWordPiece reads a vocab.txt (one token a line, id = line number).
func LoadWordPiece(r io.Reader) (*WordPiece, error) {
	w := &WordPiece{vocab: make(map[string]int32, 22000), cont: make(map[string]int32, 8000), maxRunes: 100, unk: -1}
	sc := bufio.NewScanner(r)
	for id := int32(0); sc.Scan(); id++ {
		tok := strings.TrimRight(sc.Text(), "\r")
		if tok == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(tok, "##"); ok && rest != "" {
			w.cont[rest] = id
		}
		w.vocab[tok] = id
		switch tok {
		case "[UNK]":
			w.unk = id
			w.special = append(w.special, specialToken{tok, id})
		case "[PAD]", "[CLS]", "[SEP]", "[MASK]":
			w.special = append(w.special, specialToken{tok, id})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read vocabulary: %w", err)
	}
	if w.unk < 0 {
		return nil, fmt.Errorf("vocabulary has no [UNK]")
	}
	w.cjk = make([]int32, cjkHi-cjkLo+1)
	var b [4]byte
	for r := rune(cjkLo); r <= cjkHi; r++ {
		id, ok := w.vocab[string(b[:utf8.EncodeRune(b[:], r)])]
		if !ok {
			id = w.unk
		}
		w.cjk[r-cjkLo] = id
	}
	return w, nil
}

// Size is the number of tokens in the vocabulary.
func (w *WordPiece) Size() int { return len(w.vocab) }

// Encode appends the ids of text to ids (no [CLS] or [SEP]).
func (w *WordPiece) Encode(text string, ids []int32) []int32 {
	// Special tokens in the raw text are matched first, as sugarme's
	// added vocabulary does; the pieces between them are tokenized.
	for len(text) > 0 {
		at, sp := -1, specialToken{}
		if strings.IndexByte(text, '[') >= 0 {
			for _, s := range w.special {
				if i := strings.Index(text, s.text); i >= 0 && (at < 0 || i < at) {
					at, sp = i, s
				}
			}
		}
		if at < 0 {
			return w.encodePlain(text, ids)
		}
		ids = w.encodePlain(text[:at], ids)
		ids = append(ids, sp.id)
		text = text[at+len(sp.text):]
	}
	return ids
}

// encodeWord is Encode for one word of the segmenter: a word of Chinese
// characters (the common case) is looked up rune by rune.
func (w *WordPiece) encodeWord(word string, ids []int32) []int32 {
	start := len(ids)
	for _, r := range word {
		if r < cjkLo || r > cjkHi || !isBertChinese(r) {
			return w.Encode(word, ids[:start])
		}
		ids = append(ids, w.cjk[r-cjkLo])
	}
	return ids
}

// encodePlain tokenizes text that holds no special token. Words are
// delimited by ASCII white space, CJK characters and punctuation; removed
// characters (NUL, U+FFFD, controls other than \t\n\r) join their
// neighbours, as sugarme's clean_text does.
func (w *WordPiece) encodePlain(text string, ids []int32) []int32 {
	var word [128]byte // the current word, cleaned, when it fits
	n, runes := 0, 0
	long := false // the word did not fit in word
	var big []byte
	flush := func() {
		if runes == 0 {
			return
		}
		switch {
		case runes > w.maxRunes:
			ids = append(ids, w.unk)
		case long:
			ids = w.piece(string(big), ids)
		default:
			ids = w.piece(unsafeString(word[:n]), ids)
		}
		n, runes, long, big = 0, 0, false, big[:0]
	}
	add := func(r rune) {
		if !long && n+utf8.RuneLen(r) <= len(word) {
			n += utf8.EncodeRune(word[n:], r)
		} else {
			if !long {
				big = append(big[:0], word[:n]...)
				long = true
			}
			big = utf8.AppendRune(big, r)
		}
		runes++
	}
	for _, r := range text {
		switch {
		case r >= cjkLo && r <= cjkHi && isBertChinese(r): // first: most runes, and no control
			flush()
			ids = append(ids, w.cjk[r-cjkLo])
		case r == 0 || r == utf8.RuneError || isBertControl(r):
			continue // removed
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		case isBertChinese(r) || isBertPunct(r):
			flush()
			add(r)
			flush()
		default:
			add(r)
		}
	}
	flush()
	return ids
}

// piece appends the WordPiece ids of one word: greedy longest match
// first; a word with an unmatched remainder is one [UNK].
func (w *WordPiece) piece(word string, ids []int32) []int32 {
	if id, ok := w.vocab[word]; ok {
		return append(ids, id)
	}
	start := len(ids)
	for pos := 0; pos < len(word); {
		end := len(word)
		found := int32(-1)
		for end > pos {
			var id int32
			var ok bool
			if pos == 0 {
				id, ok = w.vocab[word[:end]]
			} else {
				id, ok = w.cont[word[pos:end]]
			}
			if ok {
				found = id
				break
			}
			// step back one rune
			_, size := utf8.DecodeLastRuneInString(word[pos:end])
			end -= size
		}
		if found < 0 {
			return append(ids[:start], w.unk)
		}
		ids = append(ids, found)
		pos = end
	}
	return ids
}

// The range of the cjk table: CJK Extension A and the Unified Ideographs.
const cjkLo, cjkHi = 0x3400, 0x9fff

// isIdeograph reports whether r is in that range: most runes of a post.
func isIdeograph(r rune) bool { return r >= cjkLo && r <= cjkHi }

func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf)
}

func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 0x21 && r <= 0x2f) || (r >= 0x3a && r <= 0x40) || (r >= 0x5b && r <= 0x60) || (r >= 0x7b && r <= 0x7e)
	}
	return unicode.IsPunct(r)
}

func isBertChinese(r rune) bool {
	return (r >= 0x4e00 && r <= 0x9fff) || (r >= 0x3400 && r <= 0x4dbf) || (r >= 0xf900 && r <= 0xfaff) ||
		(r >= 0x20000 && r <= 0x2a6df) || (r >= 0x2a700 && r <= 0x2ceaf) || (r >= 0x2f800 && r <= 0x2fa1f)
}
