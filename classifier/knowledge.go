package classifier

import (
	"slices"
	"unicode"
)

// Kind names what a span of evidence says about risk.
type Kind string

// The kinds of evidence, from most to least concrete.
const (
	KindProgress Kind = "progress" // an attempt may be under way: 已经吃了, 炭已经烧起来了
	KindMethod   Kind = "method"   // a means of suicide: 安眠药, 跳楼, 割腕
	KindTime     Kind = "time"     // a time is named: 今晚, 明天
	KindPlan     Kind = "plan"     // preparation: 已经准备好了, 攒了, 计划
	KindFarewell Kind = "farewell" // leave-taking: 永别, 再见了, 遗书
	KindIntent   Kind = "intent"   // a wish to die: 想死, 不想活了
	KindPain     Kind = "pain"     // pain of living: 活着好累, 撑不下去
	kindMask     Kind = ""         // negation or hyperbole: hides the risk words it covers
	kindSeeYou   Kind = "see-you"  // a mask that also makes the post's farewells everyday ones
)

// pattern is one phrase of the knowledge layer, matched on normalised text.
type pattern struct {
	text   []rune
	kind   Kind
	strong bool // for intent and pain: the strong form of the kind
	// after, if set, decides from the text after the phrase whether it is
	// found, and where it ends: the end given, later, or -1 for not found.
	after func(text []rune, end int) int
}

// knowledgePhrases is the explicit knowledge of the kind the tree-hole
// rescue agent used. Phrases are simplified Chinese; traditional input is
// folded before matching.
var knowledgePhrases = []struct {
	kind    Kind
	strong  bool
	phrases []string
	after   func(text []rune, end int) int // as pattern.after
}{
	{KindProgress, false, []string{
		"已经吞了药", "刚吞了药", "吃了一整瓶", "吃了一瓶药", "已经割了", "已经割开",
		"炭已经烧", "已经烧起来", "正在烧炭", "已经烧炭", "血止不住", "血一直流", "已经站在天台", "已经站在楼顶",
		"现在在天台", "站在天台", "站在楼顶", "在楼顶了", "在天台了", "在河边了", "在江边了", "药效上来",
		"药劲上来", "意识模糊", "已经喝了农药", "喝了农药", "已经跳", "永别了各位", "最后一条微博",
		"已经吃了药", "已经吃了安眠药", "药已经吃", "刚割完", "割了一刀", "割一刀", "血还在流", "已经在烧",
		"正在等死", "等死了", "在等死", "死亡倒计时", "把药全吃了", "把药全吞了", "药效开始上来",
		"药劲开始上来", "点上了炭", "炭点上了", "炭也点上", "点了炭", "点好了炭", "炭点燃", "点燃了炭",
		"炭点着了", "已经到楼顶", "已经走到楼顶", "已经到天台", "已经走到天台",
		// Written to be read after death.
		"我已经不在这个世界", "我已经离开这个世界", "我已经离开了这个世界", "我已经不在人世",
	}, nil},
	{KindMethod, false, []string{
		"安眠药", "安定片", "褪黑素", "抗抑郁药", "跳楼", "跳河", "跳江", "跳海", "跳桥", "跳下去",
		"割腕", "割脉", "割动脉", "划手腕", "刀片", "烧炭", "木炭", "上吊", "绳子", "吊死",
		"农药", "百草枯", "敌敌畏", "吞药", "服药", "吃药自杀", "煤气", "卧轨", "撞车", "溺死",
		"跳下", "楼顶", "天台", "一瓶药", "攒药", "屯药", "囤药", "药片", "安乐死", "氰化物",
		"老鼠药", "安眠", "自缢", "服毒", "割喉", "放血", "把药带上", "药带上", "吃药", "一把药",
		"楼跳下去", "跳下去", "从楼上", "八楼", "8楼", "十楼", "高楼", "吞了", "煤气罐",
		"安定", "艾司唑仑", "阿普唑仑", "佐匹克隆", "舍曲林", "地西泮", "唑吡坦", "思诺思",
		"亚硝酸钠", "氰化钾", "耗子药", "喝洗洁精", "喝消毒液", "喝84",
		"吞金", "吞刀片", "捅自己", "割颈", "跳轨", "跳湖", "投江", "跳下楼",
		"自刎", "自焚", "投河", "投湖", "投海", "投井", "勒死", "喝药", "烧碳", "抹脖子",
		// A cephalosporin with alcohol (头孢配酒，说走就走); 头孢 alone is an
		// everyday antibiotic (发烧了在吃头孢).
		"头孢配酒", "头孢加酒", "头孢和酒", "头孢就酒", "头孢+酒", "头孢喝酒", "酒加头孢", "酒配头孢",
		"吃了头孢喝了酒", "喝了酒吃了头孢", "吃头孢喝酒", "头孢喝了酒",
	}, nil},
	{KindTime, false, []string{
		"今晚", "今天晚上", "今天", "明天", "后天", "明晚", "这周", "这个周末", "周末", "下周",
		"月底", "过年前", "生日那天", "几天后", "就在", "马上", "现在就", "今夜", "凌晨",
		"今天结束前", "今年", "年底", "过完年", "这个月", "下个月", "最近几天", "这几天", "就今天", "最后一晚", "最后一天", "最后一夜",
		"这次是真的", "等他们走后", "等我", "考完", "毕业后",
	}, nil},
	{KindPlan, false, []string{
		"已经准备好了", "准备好了", "买好了", "攒了", "囤了", "计划", "打算", "决定了", "定好了",
		"日子", "选好了", "写好了", "安排好", "准备", "地点", "查了", "查好了", "研究了", "试过自杀",
		"已经想好", "想好了", "试过一次", "试过了", "没死成", "没走成", "自杀未遂", "买炭", "买碳", "买了炭", "买了碳",
		"遗体", "骨灰", "器官", "捐献", "后事", "交代", "遗产", "火化", "安排后事", "东西都送人",
	}, nil},
	{KindFarewell, false, []string{
		"永别", "再见了", "拜拜了", "拜拜", "再见", "下辈子", "遗书", "遗言", "来世", "别了",
		"最后一次", "谢谢大家", "对不起大家", "不要想我", "忘了我", "照顾好自己", "后会无期",
		"爸爸妈妈再见", "爸妈再见", "再也不见", "好好照顾", "以后就没人", "下地狱", "一起死",
		"要离开了", "真的要走了", "该走了", "再无来世",
	}, nil},
	{KindIntent, true, []string{
		"自杀", "结束生命", "结束自己", "了结自己", "轻生", "不想活了", "不想活", "活不下去",
		"去死", "想死", "求死", "寻死", "离开这个世界", "离开这世界", "死了算了", "一死了之",
		"好想死", "真的想死", "我要死", "想去死", "想结束这一切", "必须去死", "想死了", "就想死",
		"死一死", "解决掉我自己", "解决自己", "死掉重开", "迎接死亡", "想走啊", "好想走",
		"不想再活", "活够了", "让我死", "死了就好", "结束战斗", "去陪你", "今晚就死",
		// Leave-taking of the world itself (normalised: "，" is ",").
		"世界再见", "再见世界", "再见了世界", "再见了,世界", "再见了,这个世界", "再见了这个世界",
		"拜拜了,这个世界", "拜拜了这个世界", "拜拜这个世界", "拜拜了,世界", "和这个世界说再见",
		"和这个世界说拜拜", "和世界说再见", "和世界说永别", "和这个世界告别", "告别这个世界", "告别世界",
	}, nil},
	{KindIntent, false, []string{
		"解脱", "不想醒来", "消失", "死掉", "死了", "活着没意思", "活着没有意义", "没有意义",
		"不想存在", "结束这一切", "离开", "想走了", "明天就死",
	}, nil},
	{KindPain, true, []string{
		"活着好累", "活着太累", "撑不下去", "熬不下去", "绝望", "崩溃", "生不如死", "痛不欲生",
		"活着好痛苦", "重度抑郁", "抑郁症", "自残",
	}, nil},
	{KindPain, false, []string{
		"好累", "太累", "痛苦", "难受", "抑郁", "失眠", "没意思", "好难", "孤独", "好痛",
		"没人在乎", "废物", "撑不住", "哭", "心累",
	}, nil},
	{kindMask, false, []string{
		"笑死", "累死了", "累死", "热死", "饿死", "困死", "冷死", "气死", "烦死", "吓死",
		"想死你", "羡慕死", "帅死", "美死", "甜死", "萌死", "爱死", "忙死", "疼死", "尴尬死",
		"不想死", "不会自杀", "不要自杀", "别自杀", "不能死", "不会死", "不许死", "死鬼",
		"死机", "死亡笔记", "死亡率", "死亡人数", "病死", "打死", "死者", "致死率",
		"跳舞", "跳绳", "计划生育", "明天会更好", "周末愉快", "再见面", "不会想死", "没想过死", "不想自杀",
		"安眠药般", "天台上晒", "离开家", "离开了", "消失了", "离开学校",
		"不会跳楼", "不会去跳楼", "不会去死", "不会割腕", "不会上吊", "不会轻生", "没想过轻生",
		"没有想过轻生", "没有想过要轻生", "没想过自杀", "没有想过自杀", "没有想过死",
		// Everyday uses of method words: a fire sale, a barbecue, medicine
		// taken as prescribed, shaving, farming, a roof garden, a lullaby,
		// blade batteries, jumping off a bed or out of a car.
		"跳楼大甩卖", "跳楼甩卖", "跳楼清仓", "木炭烧烤", "烧烤木炭", "烧烤用的木炭", "按时服药",
		"坚持服药", "坚持吃药", "服药期间", "刮胡刀片", "剃须刀片", "农药化肥", "化肥农药", "农药残留",
		"楼顶花园", "楼顶上晒", "天台山", "安眠曲", "绳子晾", "刀片电池", "刀片服务器", "跳下车",
		"跳下床", "从床上跳", "跳下沙发", "跳下船", "跳下马", "桌子上跳", "桌上跳", "椅子上跳", "凳子上跳",
		"沙发上跳", "柜子上跳", "台阶上跳", "药片太苦", "药片好苦", "药片很苦", "药片卡在",
		// The drug interaction behind 头孢配酒 asked about after drinking
		// (喝了酒，今天能吃头孢吗): a common health question.
		"能吃头孢吗", "可以吃头孢吗", "能不能吃头孢", "多久能吃头孢", "多久可以吃头孢",
	}, nil},
	// And asked about or warned of with 头孢 first (吃了头孢多久可以喝酒,
	// 吃头孢期间不要喝酒): the mask covers 头孢 too, so that the model does
	// not read "吃了头孢" alone.
	{kindMask, false, []string{"头孢"}, withAlcoholQuestion},
	// A rooftop for what rooftops are for (今晚去天台看星星, 去楼顶收衣服):
	// the mask covers the place and the pastime.
	{kindMask, false, []string{"天台", "楼顶"}, withRooftopPastime},
	// Until-next-time: a meeting named ahead. Masks, and the farewells of
	// the post are everyday ones (拜拜，明天公司见), unless it is denied
	// (明天见不到我了).
	{kindSeeYou, false, []string{
		"明天见", "公司见", "学校见", "明天公司见", "明天学校见", "下次见", "回头见", "下周见", "一会儿见",
		"一会见", "待会见", "待会儿见", "改天见", "再聊",
	}, nil},
	{KindProgress, false, swallowedPhrases, withMedicine},
	{KindProgress, false, swallowedStems, withPillCount},
	{KindProgress, false, posthumousPhrases, withGone},
	{KindProgress, false, manyPillsPhrases, withEffect},
}

// manyPillsPhrases are attempts under way only when medicine follows in
// the clause and then, in the same sentence, what an overdose does
// (effectPhrases): "我吃了好多药，现在好困"; "感冒吃了好多药都没好" is not.
var manyPillsPhrases = []string{"吃了好多", "吃了很多", "吃了一堆", "吃了太多", "吃了超多", "吃了特别多"}

// effectPhrases say what a drug taken in excess is doing to the writer.
var effectPhrases = [][]rune{
	[]rune("好困"), []rune("很困"), []rune("头好晕"), []rune("好晕"), []rune("头晕"), []rune("好想睡"),
	[]rune("眼皮好重"), []rune("眼皮很重"), []rune("眼皮沉"), []rune("睁不开"), []rune("看不清"),
	[]rune("想吐"), []rune("心跳好快"), []rune("发麻"), []rune("睡过去"), []rune("醒不过来"),
	[]rune("不会醒"), []rune("意识模糊"),
}

// effectReach bounds how far after the medicine its effect is looked for.
const effectReach = 16

// withEffect ends a many-pills phrase after the overdose's effect, if
// medicine follows it in the clause and an effect within effectReach
// runes of that, before the sentence ends.
func withEffect(text []rune, end int) int {
	k := medicineEnd(text, end)
	if k < 0 {
		return -1
	}
	return phraseWithin(text, k, effectReach, effectPhrases, endsClause)
}

// phraseWithin returns the end of the first of phrases found to begin
// within reach runes of text[from:], before a rune that ends reports
// (endsClause: the sentence's end; isClauseEnd: the clause's), or -1.
func phraseWithin(text []rune, from, reach int, phrases [][]rune, ends func(rune) bool) int {
	for k := from; k < len(text) && k < from+reach && !ends(text[k]); k++ {
		for _, p := range phrases {
			if e := k + len(p); e <= len(text) && slices.Equal(text[k:e], p) {
				return e
			}
		}
	}
	return -1
}

// swallowedPhrases are attempts under way, found only when medicine (药)
// follows within medicineReach runes in the same clause: "吞了一整瓶安眠药"
// and "吃了几十片降压药" are overdoses, "吃了一整盒饼干" is not.
var swallowedPhrases = []string{
	"已经吞了", "吞了一瓶", "吞了一整瓶", "吞了整瓶", "吃了整瓶", "吞了一盒", "吞了一整盒", "吃了一整盒",
	"吞了一把", "吃了一把", "吞了所有", "吃了所有", "吞了全部", "吃了全部",
	"吞下一整瓶", "吃下一整瓶", "喝了一瓶", "喝了一整瓶", "喝了半瓶", "喝了大半瓶", "吞了半瓶", "吃了半瓶",
	"吞了好多", "吞了很多", "吞了一堆", "吃了一板", "吞了一板", "吃了一大把", "吞了一大把",
}

// swallowedStems are attempts under way when a count of ten or more pills
// and then medicine (药) follow in the same clause: "吃了三十片安眠药",
// "吞了60颗药"; "吃了两片药" and "吃了20颗葡萄" are not.
var swallowedStems = []string{"吃了", "吞了", "服了", "吃下", "吞下", "服下"}

// posthumousPhrases begin a note written to be read after death, found
// only when the writer says, within goneReach runes, that they are gone
// by then: "如果你们看到这条，我已经不在了", "等你们看到的时候我已经走了".
var posthumousPhrases = []string{"看到这条", "看到这段", "看到这些", "看到这里", "看到的时候", "看到时", "看到这句"}

// goneReach bounds how far after a posthumous phrase the writer's being
// gone is looked for.
const goneReach = 20

// gonePhrases say that the writer is gone, after 已经; those marked
// must end their clause: "我已经走了三公里" is a walk, "我已经离开了公司" a
// new job.
var gonePhrases = []struct {
	text []rune
	ends bool
}{
	{[]rune("不在了"), true}, {[]rune("走了"), true}, {[]rune("离开了"), true}, {[]rune("死了"), true},
	{[]rune("去世了"), true}, {[]rune("不在这个世界"), false}, {[]rune("不在人世"), false},
	{[]rune("离开这个世界"), false}, {[]rune("离开人世"), false},
}

// rooftopPastimes are what a rooftop is everyday for.
var rooftopPastimes = [][]rune{
	[]rune("看星星"), []rune("看日出"), []rune("看日落"), []rune("看烟花"), []rune("看月亮"), []rune("晒被子"),
	[]rune("晒衣服"), []rune("收衣服"), []rune("晾衣服"), []rune("乘凉"), []rune("烧烤"), []rune("种菜"),
	[]rune("拍照"), []rune("聚会"),
}

// rooftopReach bounds how far after 天台 or 楼顶 its pastime is looked for:
// "天台上一起看星星".
const rooftopReach = 5

// withRooftopPastime ends 天台 or 楼顶 after a pastime (rooftopPastimes)
// that begins within rooftopReach runes, in the same clause.
func withRooftopPastime(text []rune, end int) int {
	return phraseWithin(text, end, rooftopReach, rooftopPastimes, isClauseEnd)
}

// alcoholQuestions ask whether, or say that, one may not drink with a
// medicine: "能喝酒吗", "多久可以喝", "不要喝酒".
var alcoholQuestions = [][]rune{
	[]rune("能喝酒吗"), []rune("能不能喝"), []rune("可以喝酒吗"), []rune("可不可以喝"), []rune("能喝啤酒吗"),
	[]rune("可以喝啤酒吗"), []rune("多久能喝"), []rune("多久可以喝"), []rune("几天能喝"), []rune("几天可以喝"),
	[]rune("不能喝酒"), []rune("不可以喝酒"), []rune("不要喝酒"), []rune("别喝酒"), []rune("不能饮酒"),
	[]rune("禁止饮酒"), []rune("忌酒"), []rune("不能和酒"), []rune("不能与酒"), []rune("不要和酒"), []rune("别和酒"),
	[]rune("不能跟酒"), []rune("不能一起"), []rune("不能同时"),
}

// alcoholReach bounds how far after 头孢 a question about drinking with it
// is looked for: "吃了头孢，多久可以喝酒".
const alcoholReach = 12

// withAlcoholQuestion ends 头孢 after a question or warning about drinking
// with it (alcoholQuestions), if one begins within alcoholReach runes and
// before the sentence ends.
func withAlcoholQuestion(text []rune, end int) int {
	return phraseWithin(text, end, alcoholReach, alcoholQuestions, endsClause)
}

// isClauseEnd reports whether r, in normalised text, ends a clause: a
// sentence (endsClause, as the features cut them) or a comma or space.
func isClauseEnd(r rune) bool {
	return endsClause(r) || r == ',' || r == '、' || r == ' '
}

// withGone ends a posthumous phrase after the words that say the writer
// is gone (已经不在, 已经走了…), if they follow within goneReach runes and
// before the sentence ends.
func withGone(text []rune, end int) int {
	for k := end; k+3 < len(text) && k < end+goneReach; k++ {
		// A sentence ends the search; a tilde there is a soft pause
		// ("看到这条~我已经不在了").
		if r := text[k]; endsClause(r) && r != '~' {
			return -1
		}
		if text[k] == '已' && text[k+1] == '经' {
			for _, g := range gonePhrases {
				e := k + 2 + len(g.text)
				if e <= len(text) && slices.Equal(text[k+2:e], g.text) && (!g.ends || e == len(text) || isClauseEnd(text[e])) {
					return e
				}
			}
		}
	}
	return -1
}

// medicineReach bounds how far after a swallowed phrase its medicine is
// looked for: "吞了一整瓶的安眠药".
const medicineReach = 8

// medicine is what a swallowed phrase or a count of pills needs after it.
var medicine = [][]rune{[]rune("药")}

// medicineEnd returns the end of the 药 that stands in text[from:] within
// medicineReach runes, before the clause ends, or -1.
func medicineEnd(text []rune, from int) int {
	return phraseWithin(text, from, medicineReach, medicine, isClauseEnd)
}

// withMedicine ends a swallowed phrase where it ends, if medicine follows.
func withMedicine(text []rune, end int) int {
	if medicineEnd(text, end) >= 0 {
		return end
	}
	return -1
}

// withPillCount ends a swallowed stem after the count of pills that
// follows it ("吃了三十片", "吞了上百颗", "服了20多粒"), if the count is ten or
// more and medicine follows.
func withPillCount(text []rune, end int) int {
	j := end
	// A few words may stand before the count: 整整, 差不多, 上 (百), 好 (几十).
	for skip := 0; skip < 3 && j < len(text) && isIdeograph(text[j]) && !isNumeral(text[j]); skip++ {
		j++
	}
	digits, tens := 0, false
	for ; j < len(text) && isNumeral(text[j]); j++ {
		switch r := text[j]; {
		case r >= '0' && r <= '9':
			if digits > 0 || r != '0' {
				digits++
			}
		case r == '十' || r == '百' || r == '千':
			tens = true
		}
	}
	if digits < 2 && !tens {
		return -1
	}
	if j < len(text) && (text[j] == '多' || text[j] == '来' || text[j] == '余') {
		j++
	}
	if j >= len(text) || (text[j] != '片' && text[j] != '颗' && text[j] != '粒') || medicineEnd(text, j+1) < 0 {
		return -1
	}
	return j + 1
}

// isNumeral reports whether r is a digit or a Chinese numeral of a count.
func isNumeral(r rune) bool {
	if r >= '0' && r <= '9' {
		return true
	}
	switch r {
	case '零', '一', '二', '两', '三', '四', '五', '六', '七', '八', '九', '十', '百', '千', '几':
		return true
	}
	return false
}

// matcher finds knowledge phrases in normalised text. Patterns are indexed
// by their first rune; at each position the longest match of each kind wins.
type matcher struct {
	byFirst map[rune][]pattern
	// first has the bit of each rune of the Basic Multilingual Plane that
	// begins a pattern: most runes of a post begin none, and a bit is
	// cheaper to read than the map.
	first [0x10000 / 64]uint64
}

func newMatcher() *matcher {
	m := &matcher{byFirst: make(map[rune][]pattern)}
	for _, group := range knowledgePhrases {
		for _, p := range group.phrases {
			r := []rune(p)
			m.byFirst[r[0]] = append(m.byFirst[r[0]], pattern{text: r, kind: group.kind, strong: group.strong, after: group.after})
			if r[0] < 0x10000 {
				m.first[r[0]>>6] |= 1 << (r[0] & 63)
			}
		}
	}
	for k := range m.byFirst {
		ps := m.byFirst[k]
		slices.SortStableFunc(ps, func(a, b pattern) int { return len(b.text) - len(a.text) })
	}
	return m
}

// hit is a matched phrase in normalised rune offsets [start, end).
type hit struct {
	start, end int
	kind       Kind
	strong     bool
}

// find appends to hits every risk phrase in text that no mask phrase
// covers, and to masks every mask phrase. Masks (negation, hyperbole,
// everyday idioms) hide any risk phrase that overlaps them.
func (m *matcher) find(text []rune, hits []hit, masks []hit) ([]hit, []hit) {
	hits, masks = hits[:0], masks[:0]
	seeYou := false
	for i := 0; i < len(text); i++ {
		if r := text[i]; r < 0x10000 && m.first[r>>6]&(1<<(r&63)) == 0 {
			continue
		}
		for _, p := range m.byFirst[text[i]] {
			end, gaps := matchAt(text, i, p.text)
			if end >= 0 && p.after != nil {
				end = p.after(text, end)
			}
			if end < 0 {
				continue
			}
			if p.kind == kindMask || p.kind == kindSeeYou {
				// A mask hides risk, so it is read across separators only
				// when every character is set apart ("不 想 死"): in
				// "特别想死 你把我带走吧" the space ends a phrase, and
				// 想死你 ("miss you to death") is not there.
				if gaps > 0 && gaps != len(p.text)-1 {
					continue
				}
			}
			if p.kind == kindMask {
				masks = append(masks, hit{start: i, end: end})
				continue
			}
			if p.kind == kindSeeYou {
				masks = append(masks, hit{start: i, end: end})
				seeYou = seeYou || end == len(text) || text[end] != '不'
				continue
			}
			hits = append(hits, hit{start: i, end: end, kind: p.kind, strong: p.strong})
		}
	}
	if seeYou {
		// The farewells become masks: out of the rules and the features.
		n := len(masks)
		for _, h := range hits {
			if h.kind == KindFarewell {
				masks = append(masks, hit{start: h.start, end: h.end})
			}
		}
		if len(masks) > n {
			slices.SortFunc(masks, func(a, b hit) int { return a.start - b.start })
		}
	}
	if len(masks) == 0 {
		return dedupeHits(hits), masks
	}
	kept := hits[:0]
	for _, h := range hits {
		masked := false
		for _, mk := range masks {
			if h.start < mk.end && mk.start < h.end {
				masked = true
				break
			}
		}
		if !masked {
			kept = append(kept, h)
		}
	}
	return dedupeHits(kept), masks
}

// dedupeHits joins the hits of one kind that overlap: 永别 inside 永别了各位
// into the longer, 永别 and 别了 into 永别了, strong if either is. Each
// phrase is then counted and shown once a kind. hits are in order of
// their start, as find makes them.
func dedupeHits(hits []hit) []hit {
	out := hits[:0]
next:
	for _, h := range hits {
		for k := len(out) - 1; k >= 0; k-- {
			if o := &out[k]; o.kind == h.kind && h.start < o.end {
				o.end = max(o.end, h.end)
				o.strong = o.strong || h.strong
				continue next
			}
		}
		out = append(out, h)
	}
	return out
}

// matchAt returns the end of phrase p matched at text[i:], or -1, and
// the number of separators skipped. One separator, or one emoji, may
// stand between two ideographs of the phrase: "不想 活了", "自.杀", "想 死"
// and "安😭眠药" are written so (often to slip past keyword filters), and a
// volunteer must still see them.
func matchAt(text []rune, i int, p []rune) (end, gaps int) {
	j := i
	for k, r := range p {
		switch {
		case j < len(text) && text[j] == r:
			j++
		case k > 0 && isIdeograph(r) && isIdeograph(p[k-1]):
			n := separatorLen(text, j)
			if n == 0 || j+n >= len(text) || text[j+n] != r {
				return -1, 0
			}
			j += n + 1
			gaps++
		default:
			return -1, 0
		}
	}
	return j, gaps
}

// separatorLen returns the length in runes of the separator or emoji at
// text[j:], or 0 if none starts there.
func separatorLen(text []rune, j int) int {
	if j >= len(text) {
		return 0
	}
	if isSeparator(text[j]) {
		return 1
	}
	return emojiLen(text, j)
}

// isSeparator reports whether r, between two ideographs, is a separator
// that splits a word to evade a filter rather than ending a phrase.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '.', '*', '_', '-', '|', '/', '·', '~', '+', '=', '#', '^':
		return true
	}
	return false
}

// maxEmojiLen bounds the runes of one emoji: a family of four joined by
// zero-width joiners, each with a skin tone, is 11.
const maxEmojiLen = 12

// emojiLen returns the length in runes of the one emoji at text[j:] (a
// symbol, with its modifiers, variation selectors and the emoji that
// zero-width joiners join to it), or 0 if none starts there.
func emojiLen(text []rune, j int) int {
	if r := text[j]; r < 0x2000 || isIdeograph(r) || !unicode.Is(unicode.So, r) {
		return 0
	}
	n := 1
	for j+n < len(text) && n < maxEmojiLen {
		r := text[j+n]
		switch {
		case r == zeroWidthJoiner && j+n+1 < len(text) && unicode.Is(unicode.So, text[j+n+1]):
			n += 2
		case r >= 0x300 && !isIdeograph(r) && unicode.In(r, unicode.Sk, unicode.Mn, unicode.Me):
			n++
		default:
			return n
		}
	}
	return n
}

// ruleLevel grades hits on the Tree Hole scale by how concrete the plan
// they describe is. It is the knowledge layer's own opinion; the trained
// model's is combined with it in Score.
func ruleLevel(hits []hit) int {
	var progress, method, timeW, plan, farewell, intent, strongIntent, pain, strongPain bool
	for _, h := range hits {
		switch h.kind {
		case KindProgress:
			progress = true
		case KindMethod:
			method = true
		case KindTime:
			timeW = true
		case KindPlan:
			plan = true
		case KindFarewell:
			farewell = true
		case KindIntent:
			intent = true
			strongIntent = strongIntent || h.strong
		case KindPain:
			pain = true
			strongPain = strongPain || h.strong
		}
	}
	level := 0
	switch {
	case progress:
		level = 10
	case method && timeW && (intent || plan || farewell):
		level = 9
	case method && (plan || timeW) && intent:
		level = 8
	case strongIntent && timeW && (plan || farewell):
		level = 8
	case method && (intent || farewell):
		level = 7
	case strongIntent && (plan || timeW):
		level = 6
	case strongIntent:
		level = 5
	case intent:
		level = 4
	case strongPain:
		level = 3
	case pain:
		level = 2
	}
	// An ambiguous farewell raises, never lowers: a "bye-bye" beside any
	// sign of pain or intent is read as the more dangerous reading.
	if farewell && level >= 2 && level < 9 {
		level++
	}
	return level
}
