"""The Lua scripts of the Redis engine: every state change is one of these, so it is atomic.

Conventions, shared by every script through ``_LIB``:

- ``ARGV[1]`` is the key prefix and ``ARGV[2]`` the caller's clock (``repr`` of
  ``time.time()``). Times are stored exactly as the caller sent them: Lua would
  print a float with 14 significant digits, so no script formats a float.
- A job is the hash ``P:q:job:<id>``. Absent optional fields mean None. Its
  ``entry`` is the id of the one stream entry that may deliver it; an entry
  that is not the job's current one is never started (it is acked and deleted).
- Indexes kept beside the hash: ``P:q:jobs`` (all, by submit order),
  ``P:q:state:<state>`` (same score) and ``P:q:running`` (heartbeat time).
- Every event is ``XADD P:q:events 0-<n>`` with ``n = INCR P:q:eventseq`` in the
  same script, so event ids grow by exactly one.
- Replies are arrays whose first item is a status; a job comes back as its
  ``HGETALL`` after it. Lua tables stop at the first nil, so none holds one.
- Retried calls: redis-py re-sends a command whose reply was lost in a restart.
  submit carries the job id, claim a token (``P:q:claimtok:<token>``), complete
  and fail a ``done_token``: a re-run answers like the first run and changes nothing.

Keys are built from the prefix inside the scripts: this engine targets one
Redis server (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE_SLOT",
    "CANCEL",
    "CLAIM",
    "COMPLETE",
    "FAIL",
    "HEARTBEAT",
    "PROGRESS",
    "PUT_BLOB",
    "RECLAIM",
    "SUBMIT",
    "TAKE_RATE",
    "WORKER_HEARTBEAT",
]

_LIB = r"""
local P = ARGV[1]
local NOW = ARGV[2]
local GROUP = 'workers'
local KEPT = '100000'

local function jkey(id) return P .. ':q:job:' .. id end
local function lane_key(lane) return P .. ':q:lane:' .. lane end

-- A field of a stream entry {id, {name, value, ...}}.
local function field(entry, name)
  local f = entry[2]
  for j = 1, #f, 2 do
    if f[j] == name then return f[j + 1] end
  end
  return nil
end

local function reply(status, id)
  local r = redis.call('HGETALL', jkey(id))
  table.insert(r, 1, status)
  return r
end

local function emit(id, kind, attempt, worker, data)
  local n = redis.call('INCR', P .. ':q:eventseq')
  redis.call('XADD', P .. ':q:events', 'MAXLEN', '~', KEPT, '0-' .. n,
    'ts', NOW, 'job', id, 'kind', kind, 'attempt', attempt, 'worker', worker or '',
    'data', data)
  return n
end

local function set_state(id, new)
  local k = jkey(id)
  local old = redis.call('HGET', k, 'state')
  local seq = redis.call('HGET', k, 'seq')
  redis.call('ZREM', P .. ':q:state:' .. old, id)
  redis.call('ZADD', P .. ':q:state:' .. new, seq, id)
  redis.call('HSET', k, 'state', new)
end

-- Give the job a new stream entry: it goes to the back of the line. ``n`` numbers
-- every (re)queueing of the queue, so a claim over several lanes can take the
-- oldest exactly (entry ids of different streams can tie within a millisecond).
local function enqueue(id)
  local k = jkey(id)
  local n = redis.call('INCR', P .. ':q:readyseq')
  local e = redis.call('XADD', lane_key(redis.call('HGET', k, 'lane')), '*', 'job', id, 'n', n)
  redis.call('HSET', k, 'entry', e)
end

local function drop(stream, e)
  redis.pcall('XACK', stream, GROUP, e)
  redis.call('XDEL', stream, e)
end

-- Ack and delete the job's current entry: nothing can deliver it any more.
local function drop_entry(id)
  local k = jkey(id)
  local e = redis.call('HGET', k, 'entry')
  if e then
    drop(lane_key(redis.call('HGET', k, 'lane')), e)
    redis.call('HDEL', k, 'entry')
  end
end

-- Append {attempt, worker, reason, at} to the job's history (JSON spliced as
-- text: decoding and re-encoding would round the floats of older entries).
local function add_history(id, reason)
  local k = jkey(id)
  local w = redis.call('HGET', k, 'worker')
  local item = '{"attempt":' .. redis.call('HGET', k, 'attempt') ..
    ',"worker":' .. (w and cjson.encode(w) or 'null') ..
    ',"reason":' .. cjson.encode(reason) .. ',"at":' .. NOW .. '}'
  local h = redis.call('HGET', k, 'history')
  if h == '[]' then
    h = '[' .. item .. ']'
  else
    h = string.sub(h, 1, -2) .. ',' .. item .. ']'
  end
  redis.call('HSET', k, 'history', h)
end

-- nil when (attempt, worker) holds the job's current claim, else a 'stale' reply.
local function fence(id, attempt, worker)
  local k = jkey(id)
  local st = redis.call('HGET', k, 'state')
  local att = redis.call('HGET', k, 'attempt')
  local w = redis.call('HGET', k, 'worker') or ''
  if st == 'running' and att == attempt and w == worker then return nil end
  return {'stale', st, att, w}
end

local function reject(id, op, attempt, worker, bad)
  local current = cjson.null
  if bad[4] ~= '' then current = bad[4] end
  emit(id, 'rejected', attempt, worker, cjson.encode({
    op = op, state = bad[2], current_attempt = tonumber(bad[3]), current_worker = current}))
end

-- A RUNNING job whose attempt ended without a result moves on.
local function end_attempt(id, retry, reason, data)
  local k = jkey(id)
  local attempt = redis.call('HGET', k, 'attempt')
  local worker = redis.call('HGET', k, 'worker')
  redis.call('ZREM', P .. ':q:running', id)
  drop_entry(id)
  if redis.call('HGET', k, 'cancel_requested') == '1' then
    set_state(id, 'cancelled')
    redis.call('HSET', k, 'finished_at', NOW)
    emit(id, 'cancelled', attempt, worker, data)
  elseif retry and tonumber(attempt) < tonumber(redis.call('HGET', k, 'max_attempts')) then
    set_state(id, 'queued')
    enqueue(id)
    emit(id, 'requeued', attempt, worker, data)
  elseif retry then
    set_state(id, 'dead')
    redis.call('HSET', k, 'finished_at', NOW)
    redis.call('XADD', P .. ':q:dead', 'MAXLEN', '~', KEPT, '*',
      'job', id, 'reason', reason, 'attempts', attempt, 'ts', NOW)
    emit(id, 'dead', attempt, worker, data)
  else
    set_state(id, 'failed')
    redis.call('HSET', k, 'finished_at', NOW)
    emit(id, 'failed', attempt, worker, data)
  end
end
"""

# ARGV: P, NOW, id, kind, lane, key ('' = none), max_attempts, payload, event data
SUBMIT = (
    _LIB
    + r"""
local id, kind, lane, key = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', jkey(id)) == 1 then return reply('ok', id) end
if key ~= '' then
  local other = redis.call('HGET', P .. ':q:keys', key)
  if other and redis.call('EXISTS', jkey(other)) == 1 then return reply('ok', other) end
end
local seq = redis.call('INCR', P .. ':q:jobseq')
local k = jkey(id)
redis.call('HSET', k, 'id', id, 'kind', kind, 'lane', lane, 'state', 'queued',
  'attempt', '0', 'max_attempts', ARGV[7], 'submitted_at', NOW, 'payload', ARGV[8],
  'cancel_requested', '0', 'history', '[]', 'seq', seq)
if key ~= '' then
  redis.call('HSET', k, 'key', key)
  redis.call('HSET', P .. ':q:keys', key, id)
end
redis.call('ZADD', P .. ':q:jobs', seq, id)
redis.call('ZADD', P .. ':q:state:queued', seq, id)
if redis.call('EXISTS', lane_key(lane)) == 0 then
  redis.call('XGROUP', 'CREATE', lane_key(lane), GROUP, '0', 'MKSTREAM')
end
if redis.call('SADD', P .. ':q:lanes', lane) == 1 then
  -- wakes claimers of every lane, which wait on the lanes they knew of
  redis.call('XADD', P .. ':q:newlanes', 'MAXLEN', '~', '1000', '*', 'lane', lane)
end
enqueue(id)
emit(id, 'submitted', '0', '', ARGV[9])
return reply('ok', id)
"""
)

# ARGV: P, NOW, worker, token, lane...
# -> {'job', <job>} | {'again'} | {'wait', <newlanes last id>, stream, last id, ...}
#
# Reads and starts one job in one step: the oldest undelivered entry over the
# lanes is found first (XREADGROUP over several streams would deliver one entry
# of each), then read for this worker and started. Waiting is the caller's:
# XREAD BLOCK on the streams from the ids returned, which wakes on a new entry.
CLAIM = (
    _LIB
    + r"""
local worker = ARGV[3]
local tok = P .. ':q:claimtok:' .. ARGV[4]
local prev = redis.call('GET', tok)
if prev and redis.call('EXISTS', jkey(prev)) == 1 then return reply('job', prev) end

local function last_delivered(s)
  if redis.call('EXISTS', s) == 0 then return nil end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', s)) do
    local name, last
    for j = 1, #g, 2 do
      if g[j] == 'name' then
        name = g[j + 1]
      elseif g[j] == 'last-delivered-id' then
        last = g[j + 1]
      end
    end
    if name == GROUP then return last end
  end
  redis.call('XGROUP', 'CREATE', s, GROUP, '0')
  return '0-0'
end

-- Was entry a (re)queued before entry b? By ``n``; by entry id for entries without one.
local function older(a, b)
  local an, bn = tonumber(field(a, 'n')), tonumber(field(b, 'n'))
  if an and bn then return an < bn end
  local am, as = string.match(a[1], '^(%d+)-(%d+)$')
  local bm, bs = string.match(b[1], '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end

for _ = 1, 100 do
  local best, best_entry
  local waits = {}
  for i = 5, #ARGV do
    local s = lane_key(ARGV[i])
    local last = last_delivered(s)
    local nxt = {}
    if last then nxt = redis.call('XRANGE', s, '(' .. last, '+', 'COUNT', 1) end
    if #nxt > 0 then
      if best == nil or older(nxt[1], best_entry) then best, best_entry = s, nxt[1] end
    else
      waits[#waits + 1] = s
      waits[#waits + 1] = last or '0-0'
    end
  end
  if best == nil then
    local nl = redis.call('XREVRANGE', P .. ':q:newlanes', '+', '-', 'COUNT', 1)
    local nl_last = '0-0'
    if #nl > 0 then nl_last = nl[1][1] end
    return {'wait', nl_last, unpack(waits)}
  end
  local got = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', 1, 'STREAMS', best, '>')
  if not got or #got[1][2] == 0 then return {'again'} end
  local eid = got[1][2][1][1]
  local id = field(got[1][2][1], 'job')
  local k = id and jkey(id)
  if id and redis.call('HGET', k, 'state') == 'queued'
      and redis.call('HGET', k, 'entry') == eid then
    local attempt = tonumber(redis.call('HGET', k, 'attempt')) + 1
    redis.call('HSET', k, 'attempt', attempt, 'worker', worker, 'started_at', NOW,
      'heartbeat_at', NOW)
    set_state(id, 'running')
    redis.call('ZADD', P .. ':q:running', NOW, id)
    redis.call('SET', tok, id, 'EX', 600)
    emit(id, 'claimed', attempt, worker, '{}')
    return reply('job', id)
  end
  -- cancelled while queued, gone, or not the job's current entry: never start it
  drop(best, eid)
end
return {'again'}
"""
)

# ARGV: P, NOW, id, attempt, worker
HEARTBEAT = (
    _LIB
    + r"""
local id, worker = ARGV[3], ARGV[5]
local k = jkey(id)
if redis.call('EXISTS', k) == 0 then return {'missing'} end
local bad = fence(id, ARGV[4], worker)
if bad then return bad end
redis.call('HSET', k, 'heartbeat_at', NOW)
redis.call('ZADD', P .. ':q:running', NOW, id)
local e = redis.call('HGET', k, 'entry')
if e then
  -- resets the entry's idle time (and takes it back from a janitor's XAUTOCLAIM)
  redis.pcall('XCLAIM', lane_key(redis.call('HGET', k, 'lane')), GROUP, worker, 0, e, 'JUSTID')
end
return reply('ok', id)
"""
)

# ARGV: P, NOW, id, attempt, worker, token, result, n, (blob key, blob data) * n
COMPLETE = (
    _LIB
    + r"""
local id, attempt, worker, token = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local k = jkey(id)
if redis.call('EXISTS', k) == 0 then return {'missing'} end
if redis.call('HGET', k, 'done_token') == token then return reply('ok', id) end
local bad = fence(id, attempt, worker)
if bad then
  reject(id, 'complete', attempt, worker, bad)
  return bad
end
redis.call('HSET', k, 'result', ARGV[7], 'finished_at', NOW, 'done_token', token)
redis.call('HDEL', k, 'error')
set_state(id, 'complete')
redis.call('ZREM', P .. ':q:running', id)
drop_entry(id)
local n = tonumber(ARGV[8])
local data = '{}'
if n > 0 then
  local versions = {}
  for i = 0, n - 1 do
    local key = ARGV[9 + 2 * i]
    redis.call('SET', P .. ':blob:' .. key, ARGV[10 + 2 * i])
    versions[key] = redis.call('INCR', P .. ':blobver:' .. key)
  end
  data = cjson.encode({blobs = versions})
end
emit(id, 'completed', attempt, worker, data)
return reply('ok', id)
"""
)

# ARGV: P, NOW, id, attempt, worker, token, error, retry ('1'/'0'), event data
FAIL = (
    _LIB
    + r"""
local id, attempt, worker, token = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local k = jkey(id)
if redis.call('EXISTS', k) == 0 then return {'missing'} end
if redis.call('HGET', k, 'done_token') == token then return reply('ok', id) end
local bad = fence(id, attempt, worker)
if bad then
  reject(id, 'fail', attempt, worker, bad)
  return bad
end
add_history(id, ARGV[7])
redis.call('HSET', k, 'error', ARGV[7], 'done_token', token)
end_attempt(id, ARGV[8] == '1', ARGV[7], ARGV[9])
return reply('ok', id)
"""
)

# ARGV: P, NOW, id, attempt, worker, data -> event id, or 0 when stale
PROGRESS = (
    _LIB
    + r"""
local id = ARGV[3]
if redis.call('EXISTS', jkey(id)) == 0 then return 0 end
if fence(id, ARGV[4], ARGV[5]) then return 0 end
return emit(id, 'progress', ARGV[4], ARGV[5], ARGV[6])
"""
)

# ARGV: P, NOW, id
CANCEL = (
    _LIB
    + r"""
local id = ARGV[3]
local k = jkey(id)
if redis.call('EXISTS', k) == 0 then return {'missing'} end
local st = redis.call('HGET', k, 'state')
local attempt, worker = redis.call('HGET', k, 'attempt'), redis.call('HGET', k, 'worker')
if st == 'queued' then
  drop_entry(id)
  set_state(id, 'cancelled')
  redis.call('HSET', k, 'finished_at', NOW)
  emit(id, 'cancelled', attempt, worker, '{}')
elseif st == 'running' and redis.call('HGET', k, 'cancel_requested') ~= '1' then
  redis.call('HSET', k, 'cancel_requested', '1')
  emit(id, 'cancel_requested', attempt, worker, '{}')
end
return reply('ok', id)
"""
)

# ARGV: P, NOW, 'running', cutoff, reason, event data
#   -> {examined, <job>...}: up to 100 RUNNING jobs with heartbeat_at < cutoff
# ARGV: P, NOW, 'sweep', cutoff, reason, event data, lane, cursor, min idle ms, consumer
#   -> {next cursor, <job>...}: one XAUTOCLAIM page of entries idle that long
RECLAIM = (
    _LIB
    + r"""
local CUTOFF, REASON, DATA = ARGV[4], ARGV[5], ARGV[6]
local RUNNING = P .. ':q:running'

-- The entry (stream s, id eid) or, without one, the job's own claim, is looked at
-- again here: the heartbeat may have arrived since the caller looked.
local function expire(id, s, eid)
  local k = id and jkey(id)
  if not id or redis.call('EXISTS', k) == 0 then
    if eid then drop(s, eid) end
    if id then redis.call('ZREM', RUNNING, id) end
    return nil
  end
  local lane = redis.call('HGET', k, 'lane')
  if eid and (redis.call('HGET', k, 'entry') ~= eid or lane_key(lane) ~= s) then
    drop(s, eid)  -- an entry the job no longer uses
    return nil
  end
  local st = redis.call('HGET', k, 'state')
  if st == 'queued' then
    if eid then
      -- read by XREADGROUP but never started (the reply was lost): deliver it anew
      drop_entry(id)
      enqueue(id)
    end
    return nil
  end
  if st ~= 'running' then
    drop_entry(id)
    redis.call('ZREM', RUNNING, id)
    return nil
  end
  local hb = redis.call('HGET', k, 'heartbeat_at')
  if hb and tonumber(hb) >= tonumber(CUTOFF) then
    redis.call('ZADD', RUNNING, hb, id)  -- keeps the index in step with the hash
    return nil
  end
  add_history(id, REASON)
  end_attempt(id, true, REASON, DATA)
  return reply('changed', id)
end

if ARGV[3] == 'running' then
  local ids = redis.call('ZRANGEBYSCORE', RUNNING, '-inf', '(' .. CUTOFF, 'LIMIT', 0, 100)
  local out = {#ids}
  for _, id in ipairs(ids) do
    local r = expire(id, nil, nil)
    if r then out[#out + 1] = r end
  end
  return out
end

local s = lane_key(ARGV[7])
local cursor, consumer = ARGV[8], ARGV[10]
local r = redis.pcall('XAUTOCLAIM', s, GROUP, consumer, ARGV[9], cursor, 'COUNT', 100)
if r.err then return {'0-0'} end
local out = {r[1]}
for _, entry in ipairs(r[2]) do
  if entry then
    local changed = expire(field(entry, 'job'), s, entry[1])
    if changed then out[#out + 1] = changed end
  end
end
if cursor == '0-0' then
  -- Forget consumers (worker ids) that hold nothing and were idle for an hour.
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', s, GROUP)) do
    local name, pending, idle
    for j = 1, #c, 2 do
      if c[j] == 'name' then name = c[j + 1]
      elseif c[j] == 'pending' then pending = c[j + 1]
      elseif c[j] == 'idle' then idle = c[j + 1] end
    end
    if pending == 0 and idle and idle > 3600000 then
      redis.call('XGROUP', 'DELCONSUMER', s, GROUP, name)
    end
  end
end
return out
"""
)

# ARGV: P, NOW, worker, running (JSON), completed, failed -> 1, or 0 if not registered
WORKER_HEARTBEAT = (
    _LIB
    + r"""
local k = P .. ':worker:' .. ARGV[3]
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'running', ARGV[4], 'completed', ARGV[5], 'failed', ARGV[6],
  'heartbeat_at', NOW)
return 1
"""
)

# ARGV: P, NOW, key, data -> new version
PUT_BLOB = (
    _LIB
    + r"""
redis.call('SET', P .. ':blob:' .. ARGV[3], ARGV[4])
return redis.call('INCR', P .. ':blobver:' .. ARGV[3])
"""
)

# ARGV: P, NOW, pool, holder, limit, expires_at -> 1 taken, 0 full
ACQUIRE_SLOT = (
    _LIB
    + r"""
local z = P .. ':slots:' .. ARGV[3]
redis.call('ZREMRANGEBYSCORE', z, '-inf', NOW)
if redis.call('ZSCORE', z, ARGV[4]) or redis.call('ZCARD', z) < tonumber(ARGV[5]) then
  redis.call('ZADD', z, ARGV[6], ARGV[4])
  return 1
end
return 0
"""
)

# ARGV: P, NOW, bucket, limit, cutoff (now - window), unique member, key ttl ms
#   -> {'0'} taken | {'wait', oldest unit's time} (as text: Lua returns numbers as ints)
TAKE_RATE = (
    _LIB
    + r"""
local z = P .. ':rate:' .. ARGV[3]
redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[5])
if redis.call('ZCARD', z) < tonumber(ARGV[4]) then
  redis.call('ZADD', z, NOW, ARGV[6])
  redis.call('PEXPIRE', z, ARGV[7])
  return {'0'}
end
local oldest = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
return {'wait', oldest[2]}
"""
)
