package classifier

//go:generate go run tradsimp_gen.go

// tradToSimp maps traditional characters to simplified ones, so that
// posts written in traditional characters meet the same knowledge
// patterns and features: OpenCC's one-to-one character table
// (tradsimp_table.go, generated), which leaves alone the characters that
// simplified text writes too, and two of those mapped all the same: 著,
// the traditional 着 of 活著 and 等著 (著名 becoming 着名 costs nothing),
// and 於. Phrases that differ by region (软件, 軟體) are not converted.
var tradToSimp = func() map[rune]rune {
	m := make(map[rune]rune, len(tradChars)/3+2)
	add := func(t, s string) {
		tr, sr := []rune(t), []rune(s)
		if len(tr) != len(sr) {
			panic("tradsimp: table lengths differ")
		}
		for i := range tr {
			m[tr[i]] = sr[i]
		}
	}
	add(tradChars, simpChars)
	add("著於", "着于")
	return m
}()
