-- Shared helpers, prepended to every script. ARGV[1] is always the key
-- prefix ("lookout:{t}:"); every key a script touches starts with it and
-- so lies in the same cluster slot as KEYS[1].
local P = ARGV[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- audit appends one event, ids and codes only, to the case's log and the
-- global stream. Called by the same script that makes the change.
local function audit(now, case_id, actor, action, detail)
  local ev = cjson.encode({ts = now, case = case_id, actor = actor, action = action, detail = detail or ''})
  if case_id ~= '' then
    redis.call('RPUSH', P .. 'case:' .. case_id .. ':audit', ev)
  end
  redis.call('XADD', P .. 'audit', '*', 'ts', now, 'case', case_id, 'actor', actor, 'action', action, 'detail', detail or '')
end

-- priority orders the queue, most urgent (lowest) first: cases at the
-- emergency level and up before all others, whether or not those others
-- are past their claim target; within each of the two, cases past their
-- target first (moved up by the sweep); then the higher level; then the
-- longer waited. A flood of overdue level-6 cases must never hold back a
-- level-10 one. Scores stay integers below 2^53.
local function priority(level, since_ms, overdue, emergency)
  local tier = 3
  if level >= emergency then tier = 1 end
  if overdue then tier = tier - 1 end
  return tier * 2e14 + (10 - level) * 1e13 + since_ms
end

-- back_to_waiting puts a case that leaves its claim (released, taken back
-- by a supervisor, its lease run out) where it waited before: the
-- supervisors' escalations if it was claimed from there (an escalation
-- stands until a supervisor resolves or hands it to someone), the watch
-- list if it was claimed from there and no post has since raised it to
-- the queue (ingest then marks it so), else the volunteer queue. An
-- escalation keeps its place by the time it was first escalated. The
-- caller has cleared the owner. Returns the new state.
local function back_to_waiting(c, cid, emergency)
  local f = redis.call('HMGET', c, 'level', 'pending_ms', 'claimed_from', 'escalated_ms')
  if f[3] == 'escalated' then
    redis.call('HSET', c, 'state', 'escalated')
    redis.call('ZADD', P .. 'escalated', tonumber(f[4]) or now_ms(), cid)
    return 'escalated'
  end
  if f[3] == 'watch' then
    redis.call('HSET', c, 'state', 'watch')
    redis.call('ZADD', P .. 'watch', tonumber(f[2]), cid)
    return 'watch'
  end
  redis.call('HSET', c, 'state', 'pending')
  redis.call('ZADD', P .. 'queue', priority(tonumber(f[1]), tonumber(f[2]), false, emergency), cid)
  return 'pending'
end

-- holder_check verifies that actor holds the case with token.
-- Returns nil when they do, else an error code.
local function holder_check(c, actor, token)
  local f = redis.call('HMGET', c, 'state', 'owner', 'token')
  if not f[1] then return 'not_found' end
  if f[1] ~= 'claimed' then return 'not_claimed' end
  if f[2] ~= actor or f[3] ~= token then return 'stale_token' end
  return nil
end
