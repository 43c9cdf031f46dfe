package classifier

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalized is a post's text after normalisation, with a map from every
// normalised rune back to the rune offset it came from in the original
// text, so that evidence found in normalised text can be shown in the
// original.
type normalized struct {
	runes []rune
	orig  []int32 // orig[i] is the original rune offset of runes[i]
	// wide lists the runes that stand for more than one original rune
	// (si for 死): few, and none in most posts.
	wide []wideRune
	// link is one more than the index of the last URL placeholder pushed
	// (0: none): the placeholder is the ideograph 链, but a run of letters
	// beside it is beside a URL, not beside Chinese.
	link int
}

// wideRune is a normalised rune that stands for the original runes
// [orig[at], end).
type wideRune struct {
	at, end int32
}

func (n *normalized) reset() {
	n.runes = n.runes[:0]
	n.orig = n.orig[:0]
	n.wide = n.wide[:0]
	n.link = 0
}

// end is the original rune offset just after normalised rune i.
func (n *normalized) end(i int) int {
	for _, w := range n.wide {
		if int(w.at) == i {
			return int(w.end)
		}
	}
	return int(n.orig[i]) + 1
}

func (n *normalized) push(r rune, at int) {
	n.runes = append(n.runes, r)
	n.orig = append(n.orig, int32(at))
}

// normalize rewrites text for matching and features:
//   - full-width ASCII and the ideographic space become half-width;
//   - upper-case Latin letters become lower-case;
//   - common traditional characters become simplified ones;
//   - 紫砂 and 自鲨, written for 自杀 to slip past Weibo's keyword filter,
//     become 自杀 (not 紫砂壶 and the like, nor 来自鲨鱼), and so do
//     Latin letters written for such words beside Chinese (想si, 今晚ZS,
//     AM药: see spellings); 亖 becomes 死;
//   - a run of the same punctuation mark is kept as at most two;
//   - URLs become the single rune '链' and @mentions the single rune '@',
//     so that neither user names nor link paths leak into features;
//   - control characters and invalid UTF-8 are dropped, runs of white
//     space become one space.
//
// Emoji and other symbols are kept: they are signal.
func normalize(text string, n *normalized) {
	n.reset()
	at := 0 // rune offset in text
	lastPunct, punctRun := rune(0), 0
	lastSpace := true
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			i += size
			at++
			continue
		}
		// URLs: http(s)://... up to white space or a CJK character.
		if (r == 'h' || r == 'H') && hasURLPrefix(text[i:]) {
			start := at
			for i < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[i:])
				if unicode.IsSpace(r2) || r2 > 0x2E7F {
					break
				}
				i += s2
				at++
			}
			n.push('链', start)
			n.link = len(n.runes)
			lastSpace, punctRun = false, 0
			continue
		}
		// @mentions: @ followed by name runes up to space or punctuation.
		if r == '@' || r == '＠' {
			start := at
			i += size
			at++
			for i < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[i:])
				if unicode.IsSpace(r2) || unicode.IsPunct(r2) || r2 == ':' || r2 == '：' {
					break
				}
				i += s2
				at++
			}
			n.push('@', start)
			lastSpace, punctRun = false, 0
			continue
		}
		i += size
		pos := at
		at++
		r = foldRune(r)
		if isIdeograph(r) {
			// A CJK ideograph (or hexagram symbol), most of a post: no
			// space, control or punctuation, so none of the cases below.
			punctRun, lastPunct = 0, 0
			if (r == '砂' || r == '鲨') && n.euphemism(r, text[i:]) {
				n.runes[len(n.runes)-1], r = '自', '杀'
			}
			if r == '亖' {
				r = '死' // an old form of 四, written online for 死
			}
			n.push(r, pos)
			lastSpace = false
			continue
		}
		if 'a' <= r && r <= 'z' && !n.afterAlnum() {
			if bytes, runes := n.spelling(text[i-size:], pos); bytes > 0 {
				i += bytes - size
				at += runes - 1
				lastSpace, punctRun, lastPunct = false, 0, 0
				continue
			}
		}
		switch {
		case unicode.IsSpace(r):
			if !lastSpace {
				n.push(' ', pos)
				lastSpace = true
			}
			punctRun = 0
			continue
		case n.invisible(r):
			continue
		case unicode.IsPunct(r):
			if r == lastPunct {
				punctRun++
				if punctRun >= 2 {
					continue
				}
			} else {
				lastPunct, punctRun = r, 0
			}
		default:
			punctRun = 0
			lastPunct = 0
		}
		n.push(r, pos)
		lastSpace = false
	}
}

// euphemism reports whether r, about to be pushed after the runes so far,
// ends a homophone of 自杀 (zìshā): 紫砂 (zǐshā, Yixing clay) or 自鲨
// ("self-shark"). rest is the text after r. Yixing ware (紫砂壶, 宜兴紫砂…)
// and "from a shark" (来自鲨鱼) are left alone.
func (n *normalized) euphemism(r rune, rest string) bool {
	k := len(n.runes)
	if k == 0 {
		return false
	}
	next, _ := utf8.DecodeRuneInString(rest)
	next = foldRune(next)
	if r == '砂' {
		if n.runes[k-1] != '紫' || strings.ContainsRune("壶锅杯泥陶器茶煲盆罐土矿石砖瓦色碗盘盏艺工缸", next) {
			return false
		}
		return k < 3 || n.runes[k-3] != '宜' || n.runes[k-2] != '兴'
	}
	if n.runes[k-1] != '自' || next == '鱼' {
		return false
	}
	return k < 2 || !strings.ContainsRune("来源出各", n.runes[k-2])
}

// spellings are Latin letters written for the characters of words that
// Weibo's keyword filter catches: initials (zs for 自杀) or pinyin (zisha,
// si for 死). A run of letters is read so only when it is a whole run (no
// letter or digit either side) and beside Chinese: right before one of
// before's characters, or right after one of after's, or, when both are
// empty, beside an ideograph on either side (one space between allowed).
// None of these runs occurs so in the 19,457 ordinary posts of the data
// set; in the tree-hole posts: 今晚在家ZS, 偷偷si, AM药.
var spellings = []struct {
	latin, chars  string
	before, after string
}{
	{"zs", "自杀", "", ""},
	{"zisha", "自杀", "", ""},
	{"si", "死", "", ""},
	{"zi", "自", "杀", ""},
	{"sha", "杀", "", "自"},
	{"am", "安眠", "药", ""},
	{"tiao", "跳", "楼河江海桥崖", ""},
}

// maxSpelling is the length of the longest of spellings' Latin runs.
const maxSpelling = 5

// afterAlnum reports whether the last rune pushed is a Latin letter or a
// digit: a letter after it is inside a run, not at its start.
func (n *normalized) afterAlnum() bool {
	if len(n.runes) == 0 {
		return false
	}
	r := n.runes[len(n.runes)-1]
	return 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
}

// spelling reads the run of Latin letters at the start of text, the run
// starting at original rune offset pos, and if it is one of spellings
// pushes the characters it stands for. It returns the bytes and runes of
// text it read, 0 and 0 when it is not one.
func (n *normalized) spelling(text string, pos int) (bytes, runes int) {
	var buf [maxSpelling]byte
	k := 0
	next := rune(-1)
	for bytes < len(text) {
		r, size := utf8.DecodeRuneInString(text[bytes:])
		r = foldRune(r)
		if r < 'a' || r > 'z' {
			if '0' <= r && r <= '9' {
				return 0, 0
			}
			next = r
			break
		}
		if k == maxSpelling {
			return 0, 0
		}
		buf[k] = byte(r)
		k++
		bytes += size
	}
	prev := rune(-1)
	if len(n.runes) > 0 {
		prev = n.runes[len(n.runes)-1]
	}
	for _, sp := range spellings {
		if string(buf[:k]) != sp.latin {
			continue
		}
		var ok bool
		switch {
		case sp.before != "":
			ok = next >= 0 && strings.ContainsRune(sp.before, next)
		case sp.after != "":
			ok = prev >= 0 && strings.ContainsRune(sp.after, prev)
		default:
			ok = n.besideIdeograph(prev, next, text[bytes:])
		}
		if !ok {
			return 0, 0
		}
		j := 0
		for _, c := range sp.chars {
			n.push(c, pos+min(j, k-1))
			j++
		}
		if j < k {
			n.wide = append(n.wide, wideRune{at: int32(len(n.runes) - 1), end: int32(pos + k)})
		}
		return bytes, k
	}
	return 0, 0
}

// besideIdeograph reports whether a run of letters has an ideograph next
// to it: prev, the rune pushed before it, or next, the rune after it
// (rest is the text from next on); one space between is allowed. A URL's
// placeholder is not Chinese.
func (n *normalized) besideIdeograph(prev, next rune, rest string) bool {
	at := len(n.runes) - 1 // index of prev
	if prev == ' ' && len(n.runes) > 1 {
		at--
		prev = n.runes[at]
	}
	if isIdeograph(prev) && at != n.link-1 {
		return true
	}
	if next == ' ' {
		_, size := utf8.DecodeRuneInString(rest)
		next, _ = utf8.DecodeRuneInString(rest[size:])
		next = foldRune(next)
	}
	return isIdeograph(next)
}

func hasURLPrefix(s string) bool {
	const a, b = "http://", "https://"
	return (len(s) >= len(a) && equalFoldASCII(s[:len(a)], a)) ||
		(len(s) >= len(b) && equalFoldASCII(s[:len(b)], b))
}

func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// zeroWidthJoiner joins emoji into one (👨‍👩‍👧); between characters it is
// invisible, and "安\u200d眠\u200d药" would hide a method from the rules.
const zeroWidthJoiner = 0x200D

// invisible reports control characters and invisible format characters
// (bidi overrides, zero-width spaces and joiners…), which carry no meaning
// for scoring and are dropped. A zero-width joiner after an emoji, or a
// modifier or variation selector of one, is kept: it joins the emoji to
// the next.
func (n *normalized) invisible(r rune) bool {
	if r == zeroWidthJoiner {
		k := len(n.runes)
		return k == 0 || !unicode.In(n.runes[k-1], unicode.So, unicode.Sk, unicode.Mn)
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// foldRune maps one rune to its normalised form.
func foldRune(r rune) rune {
	switch {
	case r == 0x3000:
		return ' '
	case r >= 0xFF01 && r <= 0xFF5E:
		r -= 0xFEE0
	}
	if r < 0x80 {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	return tradToSimp.fold(r)
}
