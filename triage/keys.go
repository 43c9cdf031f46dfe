package triage

// Every Redis key lookout's triage uses is named here. The Lua scripts in
// lua/ build the same names from the prefix they are given (ARGV[1]).
//
// All triage keys carry the hash tag {t}: they live in one Redis Cluster
// slot, so every Lua script (a claim checks the volunteer's other cases
// for the cap; an ingest touches the author index, the queue and the case)
// is atomic on one node. Flagged volume is small, so one slot is not a
// bottleneck; the per-post score record lives in its own slot ({s}).

const (
	tag = "lookout:{t}:"

	keyQueue     = tag + "queue"        // zset: pending case ids by priority (level, then time waited)
	keyWatch     = tag + "watch"        // zset: watch-list case ids by last post time
	keyLeases    = tag + "leases"       // zset: claimed case ids by lease deadline (ms, Redis TIME)
	keyEscalated = tag + "escalated"    // zset: escalated case ids by escalation time
	keyFollowups = tag + "followups"    // zset: resolved case ids by follow-up time
	keyOpen      = tag + "open"         // hash: author key -> open case id
	keyLast      = tag + "last"         // hash: author key -> last resolved case id
	keyPostHash  = tag + "posthash"     // hash: key of a post id (Pseudonyms.Post) -> case id (idempotent ingest)
	keyPostCase  = tag + "postcase"     // hash: post id -> case id, written before ingest wrote keys; read, and emptied as cases close
	keyPseudonym = tag + "pseudonym"    // string: check of the pseudonym key ids are written with ("" or absent: none)
	keyFence     = tag + "fence"        // counter: lease tokens
	keyAudit     = tag + "audit"        // stream: every action, ids only
	keyUsers     = tag + "users"        // set: user names
	keyScores    = "lookout:{s}:scores" // stream: recent scores (post key, level, p_high), capped

	keySettings        = tag + "settings"         // string: the current SettingsVersion as JSON
	keySettingsHistory = tag + "settings:history" // list: every SettingsVersion, oldest first
	keySettingsSeq     = tag + "settings:seq"     // counter: versions
	keyShadow          = tag + "shadow"           // string: the candidate Routing under shadow test, JSON
	keyShadowSince     = tag + "shadow:since"     // string: when the shadow test started, Unix milliseconds
	keyOutcomes        = tag + "outcomes"         // stream: resolutions (case, level, outcome, corrected level, tries)
)

func keyCase(id string) string       { return tag + "case:" + id }
func keyCasePosts(id string) string  { return tag + "case:" + id + ":posts" }
func keyCaseNotes(id string) string  { return tag + "case:" + id + ":notes" }
func keyCaseAudit(id string) string  { return tag + "case:" + id + ":audit" }
func keyCasePII(id string) string    { return tag + "case:" + id + ":pii" }
func keyHeld(user string) string     { return tag + "held:" + user }
func keyUser(name string) string     { return tag + "user:" + name }
func keySession(hash string) string  { return tag + "session:" + hash }
func keyThrottle(what string) string { return tag + "throttle:" + what }

// keyHeldPattern matches every volunteer's held set, for repairs.
const keyHeldPattern = tag + "held:*"
