package classifier

//go:generate go run tradsimp_gen.go

// tradToSimp maps traditional characters to simplified ones, so that
// posts written in traditional characters meet the same knowledge
// patterns and features: OpenCC's one-to-one character table
// (tradsimp_table.go, generated), which leaves alone the characters that
// simplified text writes too, but for two mapped all the same (著 and 於:
// tradsimp_gen.go). Phrases that differ by region (软件, 軟體) are not
// converted. It also maps the look-alikes of ideographs (⾃ for 自) to the
// ideograph, simplified.
var tradToSimp = newTradTable(tradChars, simpChars)

// The table's characters lie in the CJK blocks U+3400-U+9FFF, in the
// supplementary ideographs from U+20000 (with the compatibility
// ideographs of U+2F800-U+2FA1F), and, look-alikes of ideographs, in the
// radicals of U+2E80-U+2FDF and the compatibility ideographs of
// U+F900-U+FAFF.
const (
	tradLo    = 0x3400
	tradHi    = 0xA000 // exclusive
	tradSup   = 0x20000
	radicalLo = 0x2E80
	radicalHi = 0x2FE0 // exclusive
	compatLo  = 0xF900
	compatHi  = 0xFB00 // exclusive
)

// tradTable answers for most characters with one bit: a character of
// U+3400-U+9FFF (nearly every character of a Chinese post) is looked up
// in the map only when its bit says it is traditional.
type tradTable struct {
	bits [(tradHi - tradLo + 63) / 64]uint64
	m    map[rune]rune
}

func newTradTable(trad, simp string) *tradTable {
	tr, sr := []rune(trad), []rune(simp)
	if len(tr) != len(sr) {
		panic("tradsimp: table lengths differ")
	}
	t := &tradTable{m: make(map[rune]rune, len(tr))}
	for i, r := range tr {
		switch {
		case r >= tradLo && r < tradHi:
			t.bits[(r-tradLo)>>6] |= 1 << ((r - tradLo) & 63)
		case r < tradSup && !isLookalike(r):
			panic("tradsimp: a traditional character outside the blocks the table covers")
		}
		t.m[r] = sr[i]
	}
	return t
}

// fold returns the simplified form of r, or r.
func (t *tradTable) fold(r rune) rune {
	if r >= tradLo && r < tradHi { // nearly every character of a Chinese post
		if t.bits[(r-tradLo)>>6]&(1<<((r-tradLo)&63)) == 0 {
			return r
		}
	} else if r < tradSup && !isLookalike(r) {
		return r
	}
	if s, ok := t.m[r]; ok {
		return s
	}
	return r
}

// isLookalike reports whether r is in a block of characters that look like
// ideographs but are coded apart: radicals (⾃ for 自) and compatibility
// ideographs below U+20000.
func isLookalike(r rune) bool {
	return r >= radicalLo && r < radicalHi || r >= compatLo && r < compatHi
}
