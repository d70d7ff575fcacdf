"""The incident state machine, as Lua scripts Redis runs atomically (see bot.incidents for the states).

One script per transition, so that however many deliveries of an alarm arrive at once (SNS
retries, a storm of 1,000), each change of state happens exactly once.
"""

RECORD = """
local seen, inc = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local st = ARGV[2]
local changed = tonumber(ARGV[3])
local seen_ttl = tonumber(ARGV[4])
local rediag = tonumber(ARGV[5])
local flap = tonumber(ARGV[6])
local new_id = ARGV[7]
local alarm = ARGV[8]
local requeue = tonumber(ARGV[9])
local ikey = ARGV[10]
local resolved_ttl = tonumber(ARGV[11])

local upd_key, upd_ms, pending, wake = KEYS[3], tonumber(ARGV[12]), KEYS[4], KEYS[5]

local function info(outcome, force)
  local h = redis.call('HMGET', inc, 'id', 'count', 'job_seq', 'queued_seq', 'root_ts', 'channel',
                       'opened_at', 'last_diag_at', 'state', 'resolved_at')
  -- a repeat asks for one coalesced root update per incident per upd_ms (the first in the window wins)
  local refresh = 0
  if h[9] and (outcome == 'repeat' or outcome == 'rediagnose' or outcome == 'reopened' or outcome == 'stale'
               or outcome == 'duplicate') then
    if redis.call('SET', upd_key, '1', 'NX', 'PX', upd_ms) then refresh = 1 end
  end
  local need = 0
  if force then
    need = 1
    redis.call('ZADD', pending, now, ikey)
  elseif h[9] == 'open' and tonumber(h[4] or '0') < tonumber(h[3] or '0')
         and now - tonumber(h[8] or '0') >= requeue then
    need = 1
  end
  if need == 1 then  -- a hint for the workers' follow-up; `pending` is the record (a lost hint is swept)
    redis.call('RPUSH', wake, ikey)
    redis.call('LTRIM', wake, -10000, -1)
  end
  return {outcome, h[1] or '', tonumber(h[2] or '0'), tonumber(h[3] or '0'), need,
          h[5] or '', h[6] or '', h[7] or '', h[10] or '', refresh}
end

if seen ~= '' then
  if not redis.call('SET', seen, '1', 'NX', 'EX', seen_ttl) then
    if redis.call('EXISTS', inc) == 1 then redis.call('HINCRBY', inc, 'dups', 1) end
    return info('duplicate', false)
  end
end

local cur = redis.call('HGET', inc, 'state')
local last_changed = tonumber(redis.call('HGET', inc, 'changed_at') or '')
if changed and last_changed and changed < last_changed then
  if cur == 'open' then redis.call('HINCRBY', inc, 'count', 1) end
  return info('stale', false)
end

-- A fresh diagnosis is due when the last one is older than `rediag`: take the next job number.
local function start_rediagnosis()
  local last = tonumber(redis.call('HGET', inc, 'last_diag_at') or '0')
  if now - last < rediag then
    return false
  end
  redis.call('HINCRBY', inc, 'job_seq', 1)
  redis.call('HSET', inc, 'last_diag_at', now)
  return true
end

local function mark_changed()
  if changed then redis.call('HSET', inc, 'changed_at', changed) end
end

if st == 'ALARM' then
  if cur == 'open' then
    redis.call('HINCRBY', inc, 'count', 1)
    redis.call('HSET', inc, 'last_at', now, 'alarm', alarm)
    mark_changed()
    if start_rediagnosis() then
      return info('rediagnose', true)
    end
    return info('repeat', false)
  end
  if cur == 'resolved' and now - tonumber(redis.call('HGET', inc, 'resolved_at') or '0') < flap then
    redis.call('HSET', inc, 'state', 'open', 'last_at', now, 'alarm', alarm)
    redis.call('HDEL', inc, 'resolved_at')
    redis.call('HINCRBY', inc, 'count', 1)
    redis.call('HINCRBY', inc, 'flaps', 1)
    redis.call('PERSIST', inc)
    mark_changed()
    return info('reopened', start_rediagnosis())
  end
  redis.call('DEL', inc)
  redis.call('HSET', inc, 'key', ikey, 'id', new_id, 'state', 'open', 'opened_at', now, 'last_at', now,
             'count', 1, 'job_seq', 1, 'queued_seq', 0, 'last_diag_at', now, 'alarm', alarm, 'first_alarm', alarm)
  mark_changed()
  return info('opened', true)
elseif st == 'OK' then
  if cur == 'open' then
    redis.call('HSET', inc, 'state', 'resolved', 'resolved_at', now, 'last_at', now, 'resolve_alarm', alarm)
    mark_changed()
    redis.call('EXPIRE', inc, resolved_ttl)
    return info('resolved', false)
  end
  return info('ignored', false)
else
  if cur == 'open' then
    redis.call('HINCRBY', inc, 'count', 1)
    return info('repeat', false)
  end
  return info('ignored', false)
end
"""

MARK_QUEUED = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'queued_seq') or '0')
if cur < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'queued_seq', ARGV[1]) cur = tonumber(ARGV[1]) end
if cur >= tonumber(redis.call('HGET', KEYS[1], 'job_seq') or '0') then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

# Claim the root message: only one caller posts it, whoever first finds it missing. A claim older
# than the hold was left by a follow-up cut short (its worker or Redis died) after it may have posted:
# its successor searches the channel first (root_unknown), so the root is not posted twice.
CLAIM_ROOT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'root_ts') then return 0 end
local claim = redis.call('HGET', KEYS[1], 'root_claim')
if claim and tonumber(ARGV[1]) - tonumber(claim) < tonumber(ARGV[2]) then return 0 end
if claim then redis.call('HSET', KEYS[1], 'root_unknown', '1') end
redis.call('HSET', KEYS[1], 'root_claim', ARGV[1])
return 1
"""


SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
