package classifier

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var (
	modelOnce sync.Once
	testModel *Model
	modelErr  error
)

// trainedClassifier loads the committed model.
func trainedClassifier(t testing.TB) *Classifier {
	t.Helper()
	modelOnce.Do(func() { testModel, modelErr = LoadModel(filepath.Join("..", "models", "risk.model")) })
	if modelErr != nil {
		t.Fatalf("load committed model: %v", modelErr)
	}
	return New(Options{Model: testModel})
}

type golden struct {
	Note  string   `json:"note"`
	Text  string   `json:"text"`
	Min   int      `json:"min"`
	Max   int      `json:"max"`
	Kinds []string `json:"kinds"`
}

// TestGolden: hand-written posts land in their expected level ranges,
// with the expected kinds of evidence, and every evidence span quotes the
// original text at its rune offsets.
func TestGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := trainedClassifier(t)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var g golden
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("golden line: %v", err)
		}
		t.Run(g.Note, func(t *testing.T) {
			res, err := c.Score(g.Text)
			if err != nil {
				t.Fatal(err)
			}
			if res.Level < g.Min || res.Level > g.Max {
				t.Errorf("level %d, want %d-%d (p_high %.2f, evidence %v)", res.Level, g.Min, g.Max, res.PHigh, res.Evidence)
			}
			if res.PHigh < 0 || res.PHigh > 1 || res.Model == "" {
				t.Errorf("bad result %+v", res)
			}
			got := map[string]bool{}
			runes := []rune(g.Text)
			for _, e := range res.Evidence {
				got[string(e.Kind)] = true
				if e.Start < 0 || e.End > len(runes) || string(runes[e.Start:e.End]) != e.Text {
					t.Errorf("evidence %+v does not quote the text at its offsets", e)
				}
			}
			for _, k := range g.Kinds {
				if !got[k] {
					t.Errorf("no %s evidence in %v", k, res.Evidence)
				}
			}
		})
	}
}

func TestEmptyAndHuge(t *testing.T) {
	c := trainedClassifier(t)
	for _, text := range []string{"", "   ", "\u200b\u202e", "\x00\x01"} {
		if _, err := c.Score(text); !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: err %v, want ErrEmpty", text, err)
		}
	}
	calm := strings.Repeat("今天天气很好，我们去公园散步。", 64<<10/len("今天天气很好，我们去公园散步。"))
	res, err := c.Score(calm)
	if err != nil || res.Level > 2 {
		t.Errorf("64 KiB of calm chatter: level %d, err %v", res.Level, err)
	}
	dark := strings.Repeat("今晚就吃掉攒的安眠药，永别了。", 64<<10/len("今晚就吃掉攒的安眠药，永别了。"))
	res, err = c.Score(dark)
	if err != nil || res.Level < 8 {
		t.Errorf("64 KiB of a level-9 plan: level %d, err %v", res.Level, err)
	}
	if len(res.Evidence) == 0 {
		t.Error("no evidence on a long post")
	}
}

// TestKnowledgeLayerAlone: without a model the rules still grade, and
// masks (negation, hyperbole) hide the words they cover.
func TestKnowledgeLayerAlone(t *testing.T) {
	c := New(Options{})
	cases := []struct {
		text     string
		min, max int
	}{
		{"笑死我了", 0, 0},
		{"累死了，热死了", 0, 0},
		{"我不想死", 0, 1},
		{"我不会跳楼的，放心", 0, 0},
		{"没有想过要轻生", 0, 0},
		{"不想活了", 4, 5},
		{"攒了安眠药，今晚想死", 8, 10},
		{"炭已经烧起来了", 10, 10},
		{"门窗都封好了，炭也点上了", 10, 10},
		{"点了炭，好困", 10, 10},
		{"已经走到楼顶了", 10, 10},
		// Written to be read after death.
		{"如果你们看到这条，我已经不在了", 10, 10},
		{"等你们看到的时候，我已经走了。", 10, 10},
		{"当你看到这条微博时，我已经离开这个世界了", 10, 10},
		{"看到这条消息我已经到家了", 0, 0},
		{"看到这条微博，我已经走了三公里了", 0, 0},
		{"看到这里。我已经不在乎了", 0, 0},
		{"看到这里，我已经不在乎了", 0, 0},
		{"看到这条的时候我已经不在家了", 0, 0},
		{"看到这条的时候我已经离开了公司", 0, 0},
		{"手被纸割得很深，好疼", 0, 0},
		{"今晚去投河，不想活了", 9, 10},
		{"想死，准备喝药", 8, 8},
		{"感冒了，今晚喝药", 0, 0},     // a method word and a time, no intent
		{"头孢配酒，今晚想死", 9, 10},   // 头孢 with alcohol is a method
		{"发烧了在吃头孢，今晚想死", 6, 6}, // 头孢 alone is not
		{"阿莫西林、头孢、阿奇霉素", 0, 0},
		{"我已经吃了头孢喝了酒，不想活了", 7, 10},
		{"医生说吃头孢不能喝酒", 0, 0},
		{"想跳轨，不想活了", 7, 7},     // a method and intent
		{"买了亚硝酸钠，今晚想死", 9, 10}, // and a time
		{"买了碳，今晚就死", 8, 10},    // a plan and strong intent with its time
		{"祝我今晚就死", 6, 6},
		// Pills swallowed: an attempt under way when medicine follows in
		// the clause; not the same words with food, or medicine later on.
		{"我已经吞了一整瓶安眠药", 10, 10},
		{"吞了一整瓶的安眠药", 10, 10},
		{"刚刚吃了几十片降压药", 10, 10},
		{"把药全吃了", 10, 10},
		{"我已经喝了半瓶农药", 10, 10},
		{"喝了一瓶啤酒，好开心", 0, 0},
		// Or ten and more of them.
		{"吃了三十片安眠药", 10, 10},
		{"吞了上百颗药", 10, 10},
		{"服了20多粒安眠药", 10, 10},
		{"我刚刚吃了一板安眠药", 10, 10},
		{"我吃了一大把药", 10, 10},
		{"吃了整整50片药", 10, 10},
		{"吃了010片药", 10, 10},
		{"吃了两片药就睡了", 0, 0},
		{"吃了9片药", 0, 0},
		{"吃了20颗葡萄", 0, 0},
		{"吃了10片维生素", 0, 0},
		{"吃了20颗葡萄，晚上吃药", 0, 0},
		{"吃了一整盒饼干，好撑", 0, 0},
		{"蛇已经吞了青蛙", 0, 0},
		{"吃了一整盒，然后去药店", 0, 0},
		{"今天吃了一把瓜子，晚上吃药", 0, 0},
		// Or many of them, and the writer says what they are doing to
		// them in the same sentence.
		{"我吃了好多药，现在好困", 10, 10},
		{"吃了很多安眠药 眼皮好重 晚安", 10, 10},
		{"吃了一堆药，好想睡，大家再见", 10, 10},
		{"感冒吃了好多药都没好", 0, 0},
		{"今天吃了好多好吃的，好困", 0, 0},
		{"吃了好多药。今天上班好困", 0, 0},
		{"吃了很多药，病终于好了", 0, 0},
		{"吃了好多药，眼皮一直跳", 0, 0},
		// Health questions about 头孢 and alcohol mask 头孢.
		{"吃了头孢多久可以喝酒，今晚想死", 6, 6},
		{"吃了头孢喝了酒，今晚想死", 9, 10},
		{"头孢和酒不能一起吃，今晚想死", 6, 6},
		// A rooftop for a pastime is not a method; a rooftop alone is.
		{"今晚去天台看星星，想死", 6, 6},
		{"今晚去天台，想死", 9, 10},
		{"站在楼顶看着下面，今晚想死", 9, 10},
	}
	for _, cs := range cases {
		res, err := c.Score(cs.text)
		if err != nil {
			t.Fatal(err)
		}
		if res.Level < cs.min || res.Level > cs.max {
			t.Errorf("%s: level %d, want %d-%d (%v)", cs.text, res.Level, cs.min, cs.max, res.Evidence)
		}
	}
}

// TestEvasiveSpellings: words split by a separator or an emoji ("不 想 活 了",
// "自.杀", "安😭眠药"), written as homophones (紫砂 and 自鲨 for 自杀, 亖 for 死) or in Latin letters
// beside Chinese (ZS, 想si, AM药) to slip past keyword filters are found,
// with the span as written; a mask is read across separators only when
// every character is set apart, and Yixing clay, sharks and Latin words
// stay what they are.
func TestEvasiveSpellings(t *testing.T) {
	c := New(Options{})
	type span struct {
		text string
		kind Kind
	}
	cases := []struct {
		text string
		want []span // exactly these spans, in order
	}{
		{"不 想 活 了", []span{{"不 想 活 了", KindIntent}}},
		{"我想.死", []span{{"想.死", KindIntent}}},
		{"自*杀", []span{{"自*杀", KindIntent}}},
		{"今 晚 跳 楼，永 别", []span{{"今 晚", KindTime}, {"跳 楼", KindMethod}, {"永 别", KindFarewell}}},
		// 永别 and 别了 overlap: one span.
		{"今晚跳楼，永别了", []span{{"今晚", KindTime}, {"跳楼", KindMethod}, {"永别了", KindFarewell}}},
		{"不 想 死", nil}, // the negation, spaced out too
		{"特别想死 你把我带走吧", []span{{"想死", KindIntent}}}, // not 想死你 across the space
		{"想..死", nil}, // one separator, not two
		{"好想紫砂", []span{{"紫砂", KindIntent}}},
		{"準備自鯊了", []span{{"準備", KindPlan}, {"自鯊", KindIntent}}},
		{"买了一把紫砂壶", nil},
		{"宜兴紫砂很有名", nil},
		{"来自鲨鱼的攻击", nil},
		{"他来自鲨", nil},
		{"我 想 你", nil},
		{"好好 活着", nil},
		// Latin letters for characters; the span is the letters as written.
		{"今晚在家ZS", []span{{"今晚", KindTime}, {"ZS", KindIntent}}},
		{"好想si", []span{{"好想si", KindIntent}}},
		{"想 si 了", []span{{"想 si 了", KindIntent}}},
		{"好想 zisha", []span{{"zisha", KindIntent}}},
		{"准备自sha", []span{{"准备", KindPlan}, {"自sha", KindIntent}}},
		{"准备zi杀", []span{{"准备", KindPlan}, {"zi杀", KindIntent}}},
		{"今晚tiao楼，不想活了", []span{{"今晚", KindTime}, {"tiao楼", KindMethod}, {"不想活了", KindIntent}}},
		{"想死，今晚吃AM药", []span{{"想死", KindIntent}, {"今晚", KindTime}, {"AM药", KindMethod}}},
		{"暂时还不想si", nil}, // the negation
		// 亖, an old form of 四, written for 死.
		{"我想亖", []span{{"想亖", KindIntent}}},
		{"今天我不会亖", nil},
		// Invisible characters between the characters of a phrase.
		{"攒了安\u200d眠\u200d药，今晚想死", []span{{"攒了", KindPlan}, {"安\u200d眠\u200d药", KindMethod}, {"今晚", KindTime}, {"想死", KindIntent}}},
		{"想\u200b死", []span{{"想\u200b死", KindIntent}}},
		{"今晚\u2f83杀", []span{{"今晚", KindTime}, {"\u2f83杀", KindIntent}}}, // ⾃, the Kangxi radical
		// One emoji between the characters of a phrase, with its modifiers
		// and joined emoji; masks read across it too.
		{"攒了安😭眠😭药，永别了", []span{{"攒了", KindPlan}, {"安😭眠😭药", KindMethod}, {"永别了", KindFarewell}}},
		{"今晚😭跳😭楼，不想活了", []span{{"今晚", KindTime}, {"跳😭楼", KindMethod}, {"不想活了", KindIntent}}},
		{"好想❤\ufe0f死", []span{{"好想❤\ufe0f死", KindIntent}}},
		{"想👍🏽死", []span{{"想👍🏽死", KindIntent}}},
		{"想👨\u200d👩\u200d👧死", []span{{"想👨\u200d👩\u200d👧死", KindIntent}}},
		{"想😭😭死", nil}, // one emoji, not two
		{"笑😂死了", nil},
		{"累😭死了", nil},
		{"今天好开心😊死党来了", nil},
	}
	for _, tc := range cases {
		res, err := c.Score(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		var got []span
		for _, e := range res.Evidence {
			got = append(got, span{e.Text, e.Kind})
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: evidence %v, want %v", tc.text, got, tc.want)
		}
	}
	var n normalized
	for in, want := range map[string]string{
		"好想紫砂": "好想自杀", "紫砂": "自杀", "自鯊吧": "自杀吧", "紫砂壶": "紫砂壶", "宜兴紫砂": "宜兴紫砂",
		"来自鲨鱼": "来自鲨鱼", "自鲨鱼": "自鲨鱼", "出自鲨": "出自鲨",
		"偷偷si": "偷偷死", "Ｚｓ吧": "自杀吧", "吃AM藥": "吃安眠药", "si": "si", "c'est si bon": "c'est si bon",
		"i am 好": "i am 好", "zs123 好": "zs123 好", "zsa好": "zsa好", "跳tiao舞": "跳tiao舞", "am吧": "am吧",
		"sha了": "sha了", "zi己": "zi己", "tiao楼": "跳楼", "亖": "死",
		// A URL's placeholder is the ideograph 链, but letters beside a URL
		// are not beside Chinese; a real 链 still is.
		"http://t.cn/x zs": "链 zs", "http://t.cn/x si 好": "链 死 好", "项链 zs": "项链 自杀",
		// Look-alikes of ideographs: Kangxi radicals and compatibility
		// ideographs, simplified as the ideograph would be.
		"我想\u2f83杀": "我想自杀", "\u2f9e": "车", "\uf902": "车", "\u2ee2": "\u2ee2",
		"\ufa5f": "着", "活著於是": "活着于是", // as 著 and 於 are
		// A zero-width joiner is kept only where it joins emoji.
		"安\u200d眠药": "安眠药", "a\u200db": "ab", "\u200d死": "死",
		"👨\u200d👩\u200d👧": "👨\u200d👩\u200d👧", "👍🏽\u200d好": "👍🏽\u200d好", "❤\ufe0f\u200d🔥": "❤\ufe0f\u200d🔥",
	} {
		normalize(in, &n)
		if got := string(n.runes); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	var n normalized
	in := "ＡＢＣ　今晚！！！！ 看 https://t.cn/xyz 和 @张三 的話\u202e"
	normalize(in, &n)
	got := string(n.runes)
	want := "abc 今晚!! 看 链 和 @ 的话"
	if got != want {
		t.Fatalf("normalize(%q) = %q, want %q", in, got, want)
	}
	// Every normalised rune maps back to a rune of the original.
	orig := []rune(in)
	for i, o := range n.orig {
		if int(o) >= len(orig) {
			t.Fatalf("rune %d maps to %d, beyond %d", i, o, len(orig))
		}
	}
	if !utf8.ValidString(got) {
		t.Fatal("invalid UTF-8 out")
	}
}

// TestConcurrentScoring: one Classifier scores from many goroutines with
// the same results as from one (run with -race).
func TestConcurrentScoring(t *testing.T) {
	c := trainedClassifier(t)
	texts := []string{"今晚就吃掉攒的安眠药，永别了", "笑死我了", "活着好累", "明天去江边跳下去"}
	want := make([]Result, len(texts))
	for i, s := range texts {
		want[i], _ = c.Score(s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for r := 0; r < 50; r++ {
				for i, s := range texts {
					got, _ := c.Score(s)
					if got.Level != want[i].Level || got.PHigh != want[i].PHigh || len(got.Evidence) != len(want[i].Evidence) {
						t.Errorf("%s: concurrent result %+v differs from %+v", s, got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestTraditionalGradesAsSimplified: a post written in traditional
// characters, beyond the distress vocabulary (鎖, 廁, 厭, 漸, 撐, 鑰,
// 嚨), is graded exactly as the same post in simplified ones, with the
// same evidence at the same offsets, and simplified text is never
// changed by the table.
func TestTraditionalGradesAsSimplified(t *testing.T) {
	c := trainedClassifier(t)
	pairs := [][2]string{
		{"把自己锁在厕所里，割了手腕，血一直流", "把自己鎖在廁所裡，割了手腕，血一直流"},
		{"活着真的很厌倦，渐渐撑不下去了", "活著真的很厭倦，漸漸撐不下去了"},
		{"钥匙扔了，今晚就从楼顶跳下去，永别了", "鑰匙扔了，今晚就從樓頂跳下去，永別了"},
		{"喉咙好痛，吞了一整瓶安眠药", "喉嚨好痛，吞了一整瓶安眠藥"},
		{"周末和朋友去吃火锅，开心", "週末和朋友去吃火鍋，開心"},
	}
	for _, p := range pairs {
		s, err1 := c.Score(p[0])
		tr, err2 := c.Score(p[1])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if s.Level != tr.Level || s.PHigh != tr.PHigh || len(s.Evidence) != len(tr.Evidence) {
			t.Errorf("%s: level %d p_high %.4f evidence %v\n%s: level %d p_high %.4f evidence %v",
				p[0], s.Level, s.PHigh, s.Evidence, p[1], tr.Level, tr.PHigh, tr.Evidence)
			continue
		}
		for i := range s.Evidence {
			a, b := s.Evidence[i], tr.Evidence[i]
			if a.Start != b.Start || a.End != b.End || a.Kind != b.Kind {
				t.Errorf("%s: evidence %v, traditional %v", p[0], s.Evidence, tr.Evidence)
			}
		}
	}
	// Simplified characters map to themselves: the table's simplified
	// side never appears on its traditional side, except where the
	// character is kept on purpose (著 of 活著).
	trad := map[rune]bool{}
	for _, r := range tradChars {
		trad[r] = true
	}
	for _, r := range simpChars {
		if trad[r] {
			t.Errorf("%c is both a traditional character of the table and a simplified one", r)
		}
	}
	// The bit set answers as the map does, for every character.
	for r := rune(0); r < 0x30000; r++ {
		want, ok := tradToSimp.m[r]
		if !ok {
			want = r
		}
		if got := tradToSimp.fold(r); got != want {
			t.Fatalf("fold(%U) = %U, want %U", r, got, want)
		}
	}
	if n := len([]rune(tradChars)); n != len([]rune(simpChars)) || n < 4000 {
		t.Errorf("table of %d traditional and %d simplified characters", n, len([]rune(simpChars)))
	}
}
