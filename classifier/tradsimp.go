package classifier

// tradToSimp maps common traditional characters to simplified ones, so
// that posts written in traditional characters meet the same knowledge
// patterns and features. It covers the characters of the distress
// vocabulary and the most frequent function words, not the whole script.
var tradToSimp = func() map[rune]rune {
	const trad = "殺藥樓過們這個會說為還對樣來時結東沒錢開關見別後從讓給應該覺燒準備臺邊離遺書絕經著繩氣體麼嗎愛難傷媽謝學記憶無聽話與實現發當點裡頭間問題種隻兒幾"
	const simp = "杀药楼过们这个会说为还对样来时结东没钱开关见别后从让给应该觉烧准备台边离遗书绝经着绳气体么吗爱难伤妈谢学记忆无听话与实现发当点里头间问题种只儿几"
	const trad2 = "樂歡壓力種親報電腦認識誰們決計劃歲醫院處們網請專業幫終於夠糟態痛苦憂鬱症劑療輕鬆壞說謊淚滅擔憊煩惱萬崩潰孤獨懼擇殘傷斷臥軌跳橋靜脈刀漿藍湖綫線鬧鐘夢惡魔魂靈囑務產壽險請謝謝" +
		"變們開們頭腦顧與護僅長門問間陽陰風飛鳥魚馬車軟輛窗戶樹葉蘭韓國際華語詞讀寫買賣貨錄戰爭爛驗證據紀錄屬類組織帶給緊張響應連續嚴重較難題選項確認並將對於這樣寶貝親愛"
	const simp2 = "乐欢压力种亲报电脑认识谁们决计划岁医院处们网请专业帮终于够糟态痛苦忧郁症剂疗轻松坏说谎泪灭担惫烦恼万崩溃孤独惧择残伤断卧轨跳桥静脉刀浆蓝湖线线闹钟梦恶魔魂灵嘱务产寿险请谢谢" +
		"变们开们头脑顾与护仅长门问间阳阴风飞鸟鱼马车软辆窗户树叶兰韩国际华语词读写买卖货录战争烂验证据纪录属类组织带给紧张响应连续严重较难题选项确认并将对于这样宝贝亲爱"
	m := make(map[rune]rune, 400)
	add := func(t, s string) {
		tr, sr := []rune(t), []rune(s)
		if len(tr) != len(sr) {
			panic("tradsimp: table lengths differ")
		}
		for i := range tr {
			if tr[i] != sr[i] {
				m[tr[i]] = sr[i]
			}
		}
	}
	add(trad, simp)
	add(trad2, simp2)
	return m
}()
