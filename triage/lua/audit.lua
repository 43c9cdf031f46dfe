-- audit: record an action that changes nothing else (a read, a denial, a
-- login), with Redis TIME like every other audit entry.
-- KEYS[1] queue
-- ARGV: prefix, case_id or '', actor, action, detail, window_s or '',
--       'refresh' or ''
-- With a window, a list a page refreshes every few seconds is recorded
-- once a window: the page's own load always (and marks the window), a
-- refresh only when no entry of the same actor and detail is marked.
-- Returns 'ok', or 'skipped' for a refresh within the window.
local window = tonumber(ARGV[6] or '') or 0
if window > 0 then
  local seen = P .. 'listed:' .. ARGV[3] .. ':' .. ARGV[5]
  if ARGV[7] == 'refresh' then
    if not redis.call('SET', seen, '1', 'NX', 'EX', window) then return 'skipped' end
  else
    redis.call('SET', seen, '1', 'EX', window)
  end
end
audit(now_ms(), ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 'ok'
