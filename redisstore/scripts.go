package redisstore

import "github.com/redis/go-redis/v9"

// The scripts keep every multi-key change of one queue atomic and one
// round trip. All keys of a queue share a hash tag, so they live in one
// Cluster slot. Time comes in as ARGV (milliseconds from the store's
// clock), never from the Redis server, so behaviour follows the injected
// clock. Records are cjson objects:
//
//	message: s seq, b body (raw JSON text), t ttl, c created, e expires,
//	         d delay-until, cl client id, ck checksum, cc claim count,
//	         ci claim id, ce claim expires
//	claim:   t ttl, g grace, u updated, e expires, ids
//
// KEYS for queue scripts: 1 queue hash (meta, seq, and the dead letter
// policy maxc, dlq, dlqttl copied out of meta so a claim needs no JSON
// parsing and no extra round trip), 2 messages hash, 3 ids zset (score =
// seq), 4 claims hash, 5 message expiry zset (score = expires), 6 claim
// expiry zset. The expiry zsets let the sweeper find expired data without
// walking live data. The post and sweep scripts take a 7th key, the delay
// zset (score = delay-until) of delayed messages, so that the sweeper can
// tell long-poll waiters when a delay ends (queues whose delayed messages
// were posted by an earlier version have none: their waiters find those
// messages at their deadline).
//
// Scripts that make messages claimable PUBLISH on the queue's wake
// channel (an ARGV), which every server subscribes to while it has
// long-poll waiters on the queue (wake.go): post (unless every message is
// delayed) and claimDelete at once, sweep for claims that ran out holding
// messages and for delays that ended.

const luaHelpers = `
local function live(m, now) return m.e > now end
local function held(m, now) return m.ci ~= "" and m.ce > now end
local function free(m, now) return live(m, now) and not held(m, now) and m.d <= now end
-- each calls fn(id, record) for the queue's messages in FIFO order, a
-- window at a time, until fn returns false.
local function each(window, fn)
  local after = '-inf'
  while true do
    local ids = redis.call('ZRANGEBYSCORE', KEYS[3], after, '+inf', 'LIMIT', 0, window)
    if #ids == 0 then return end
    local recs = redis.call('HMGET', KEYS[2], unpack(ids))
    for i, id in ipairs(ids) do
      if recs[i] and fn(id, recs[i]) == false then return end
    end
    if #ids < window then return end
    after = '(' .. redis.call('ZSCORE', KEYS[3], ids[#ids])
  end
end
`

// post: KEYS 1-6 and the delay zset; ARGV now, client, wake channel,
// then per message body, ttl, delay, checksum, nonce. Creates the queue
// when missing. Returns whether the queue is marked indexed (its ix
// field, see Store.index), then the new ids.
var postScript = newScript(luaHelpers + postBody)

// plaintextPost is post refused, with -1 and nothing written, when the
// queue's metadata sets _enable_encrypt_messages (storage.PlaintextGuard).
// The metadata is the JSON text Go encodes (no spaces), searched as plain
// text: a nested object with the same key and value also refuses, which
// only makes the caller encrypt.
var plaintextPostScript = newScript(luaHelpers + `
local meta = redis.call('HGET', KEYS[1], 'meta')
if meta and string.find(meta, '"_enable_encrypt_messages":true', 1, true) then return {-1} end
` + postBody)

const postBody = `
local now = tonumber(ARGV[1])
redis.call('HSETNX', KEYS[1], 'meta', '{}')
local indexed = redis.call('HEXISTS', KEYS[1], 'ix')
local n = (#ARGV - 3) / 5
local first = redis.call('HINCRBY', KEYS[1], 'seq', n) - n
local ids = {}
local ready = false -- some message is claimable now
for i = 0, n - 1 do
  local a = 4 + i * 5
  local seq = first + i + 1
  local id = string.format('%016x', seq) .. ARGV[a + 4]
  local ttl = tonumber(ARGV[a + 1])
  local delay = tonumber(ARGV[a + 2])
  local d = 0
  if delay > 0 then
    d = now + delay * 1000
    redis.call('ZADD', KEYS[7], d, id)
  else
    ready = true
  end
  redis.call('HSET', KEYS[2], id, cjson.encode({s = seq, b = ARGV[a], t = ttl, c = now, e = now + ttl * 1000,
    d = d, cl = ARGV[2], ck = ARGV[a + 3], cc = 0, ci = "", ce = 0}))
  redis.call('ZADD', KEYS[3], seq, id)
  redis.call('ZADD', KEYS[5], now + ttl * 1000, id)
  ids[#ids + 1] = id
end
if ready then redis.call('PUBLISH', ARGV[3], '') end
table.insert(ids, 1, indexed)
return ids
`

// markIndexed: sets the queue's ix field (its indexes hold it) unless the
// queue was deleted meanwhile.
var markIndexedScript = newScript(`
if redis.call('HEXISTS', KEYS[1], 'meta') == 1 then redis.call('HSET', KEYS[1], 'ix', 1) end
return 0
`)

// page: ARGV after-seq (exclusive), count. Returns id, record pairs in
// FIFO order (raw, filtered by the caller).
var pageScript = newScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
if #ids == 0 then return out end
local recs = redis.call('HMGET', KEYS[2], unpack(ids))
for i, id in ipairs(ids) do
  if recs[i] then out[#out + 1] = id; out[#out + 1] = recs[i] end
end
return out
`)

// claim: ARGV now, claim id, ttl, grace, limit, hold id, hold ttl.
// Takes up to limit free messages in FIFO order; under a dead letter
// policy, messages claimed max claim count times are held under the hold
// id instead (for the move to the dead letter queue). Returns {} when the
// queue does not exist, else {taken id, record..., "--", dead letter
// queue, its ttl, moving id, record...}.
var claimScript = newScript(luaHelpers + `
local now, cid, ttl, grace = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local limit, hold, holdttl = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local pol = redis.call('HMGET', KEYS[1], 'meta', 'maxc', 'dlq', 'dlqttl')
if not pol[1] then return {} end
local maxc = tonumber(pol[2]) or 0
local taken, moving, tids = {}, {}, {}
local picked = 0
if limit > 0 then
  each(200, function(id, raw)
    local m = cjson.decode(raw)
    if not free(m, now) then return true end
    picked = picked + 1
    if maxc > 0 and m.cc >= maxc then
      m.ci, m.ce = hold, now + holdttl * 1000
      local enc = cjson.encode(m)
      redis.call('HSET', KEYS[2], id, enc)
      moving[#moving + 1] = id; moving[#moving + 1] = enc
    else
      m.ci, m.ce, m.cc = cid, now + ttl * 1000, m.cc + 1
      local untl = now + (ttl + grace) * 1000
      if m.e < untl then
        m.e, m.t = untl, ttl + grace
        redis.call('ZADD', KEYS[5], m.e, id)
      end
      local enc = cjson.encode(m)
      redis.call('HSET', KEYS[2], id, enc)
      taken[#taken + 1] = id; taken[#taken + 1] = enc
      tids[#tids + 1] = id
    end
    return picked < limit
  end)
end
if #tids > 0 then
  redis.call('HSET', KEYS[4], cid, cjson.encode({t = ttl, g = grace, u = now, e = now + ttl * 1000, ids = tids}))
  redis.call('ZADD', KEYS[6], now + ttl * 1000, cid)
end
taken[#taken + 1] = '--'
taken[#taken + 1] = pol[3] or ''
taken[#taken + 1] = pol[4] or '0'
for _, v in ipairs(moving) do taken[#taken + 1] = v end
return taken
`)

// claimGet: ARGV now, claim id. Returns {claim record, id, record, ...}
// for the messages it still holds, or {} when unknown or expired.
var claimGetScript = newScript(luaHelpers + `
local now, cid = tonumber(ARGV[1]), ARGV[2]
local raw = redis.call('HGET', KEYS[4], cid)
if not raw then return {} end
local c = cjson.decode(raw)
if c.e <= now then return {} end
local out = {raw}
if #c.ids == 0 then return out end
local recs = redis.call('HMGET', KEYS[2], unpack(c.ids))
for i, id in ipairs(c.ids) do
  if recs[i] then
    local m = cjson.decode(recs[i])
    if live(m, now) and m.ci == cid then out[#out + 1] = id; out[#out + 1] = recs[i] end
  end
end
return out
`)

// claimUpdate: ARGV now, claim id, ttl, grace. Returns 0 when the claim
// is unknown or expired, else 1.
var claimUpdateScript = newScript(luaHelpers + `
local now, cid, ttl, grace = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[4], cid)
if not raw then return 0 end
local c = cjson.decode(raw)
if c.e <= now then return 0 end
c.t, c.g, c.u, c.e = ttl, grace, now, now + ttl * 1000
redis.call('HSET', KEYS[4], cid, cjson.encode(c))
redis.call('ZADD', KEYS[6], c.e, cid)
if #c.ids == 0 then return 1 end
local recs = redis.call('HMGET', KEYS[2], unpack(c.ids))
for i, id in ipairs(c.ids) do
  if recs[i] then
    local m = cjson.decode(recs[i])
    if m.ci == cid then
      m.ce = c.e
      local untl = now + (ttl + grace) * 1000
      if m.e < untl then
        m.e, m.t = untl, ttl + grace
        redis.call('ZADD', KEYS[5], m.e, id)
      end
      redis.call('HSET', KEYS[2], id, cjson.encode(m))
    end
  end
end
return 1
`)

// claimDelete: ARGV claim id, wake channel. Releases its messages at
// once.
var claimDeleteScript = newScript(`
local cid = ARGV[1]
local raw = redis.call('HGET', KEYS[4], cid)
if not raw then return 0 end
local c = cjson.decode(raw)
redis.call('HDEL', KEYS[4], cid)
redis.call('ZREM', KEYS[6], cid)
if #c.ids == 0 then return 1 end
local recs = redis.call('HMGET', KEYS[2], unpack(c.ids))
local released = false
for i, id in ipairs(c.ids) do
  if recs[i] then
    local m = cjson.decode(recs[i])
    if m.ci == cid then
      m.ci, m.ce = "", 0
      redis.call('HSET', KEYS[2], id, cjson.encode(m))
      released = true
    end
  end
end
if released then redis.call('PUBLISH', ARGV[2], '') end
return 1
`)

// deleteOne: ARGV now, id, claim id. Returns 0 ok, 1 claimed, 2 not
// claimed, 3 claim not found (the storage contract's order of checks).
var deleteOneScript = newScript(luaHelpers + `
local now, id, cid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local raw = redis.call('HGET', KEYS[2], id)
if not raw then return 0 end
local m = cjson.decode(raw)
if not live(m, now) then return 0 end
local h = held(m, now)
if cid == '' then
  if h then return 1 end
else
  if not h then return 2 end
  local craw = redis.call('HGET', KEYS[4], cid)
  if not craw or cjson.decode(craw).e <= now then return 3 end
  if m.ci ~= cid then return 1 end
end
redis.call('HDEL', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[5], id)
return 0
`)

// deleteMany: ARGV now, checkClaims (0/1), n ids, ids..., claim ids...
// With checkClaims every live listed message must be held by a live
// listed claim, else nothing is deleted and 1 is returned.
var deleteManyScript = newScript(luaHelpers + `
local now, check, n = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local allowed = {}
if check then
  for i = 4 + n, #ARGV do
    local craw = redis.call('HGET', KEYS[4], ARGV[i])
    if craw and cjson.decode(craw).e > now then allowed[ARGV[i]] = true end
  end
end
local doomed = {}
for i = 4, 3 + n do
  local raw = redis.call('HGET', KEYS[2], ARGV[i])
  if raw then
    local m = cjson.decode(raw)
    if live(m, now) then
      if check and not (held(m, now) and allowed[m.ci]) then return 1 end
      doomed[#doomed + 1] = ARGV[i]
    end
  end
end
if #doomed > 0 then
  redis.call('HDEL', KEYS[2], unpack(doomed))
  redis.call('ZREM', KEYS[3], unpack(doomed))
  redis.call('ZREM', KEYS[5], unpack(doomed))
end
return 0
`)

// pop: ARGV now, n. Removes and returns up to n free messages, FIFO.
var popScript = newScript(luaHelpers + `
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return {} end
local out, doomed = {}, {}
if n > 0 then
  each(200, function(id, raw)
    if free(cjson.decode(raw), now) then
      doomed[#doomed + 1] = id
      out[#out + 1] = id; out[#out + 1] = raw
    end
    return #doomed < n
  end)
end
if #doomed > 0 then
  redis.call('HDEL', KEYS[2], unpack(doomed))
  redis.call('ZREM', KEYS[3], unpack(doomed))
  redis.call('ZREM', KEYS[5], unpack(doomed))
end
return out
`)

// stats: ARGV now. Returns {exists, total, claimed, oldest id, oldest
// created, newest id, newest created}.
var statsScript = newScript(luaHelpers + `
local now = tonumber(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return {0} end
local total, claimed, delayed = 0, 0, 0
local oid, oc, nid, nc = '', 0, '', 0
each(500, function(id, raw)
  local m = cjson.decode(raw)
  if live(m, now) then
    total = total + 1
    if held(m, now) then claimed = claimed + 1
    elseif m.d > now then delayed = delayed + 1 end
    if oid == '' then oid, oc = id, m.c end
    nid, nc = id, m.c
  end
end)
return {1, total, claimed, oid, tostring(oc), nid, tostring(nc), delayed}
`)

// The dead letter policy fields follow meta in one place for both
// scripts below: ARGV meta, max claim count (0 = no policy), dead letter
// queue, its messages' ttl.
const luaSetMeta = `
local function setmeta()
  redis.call('HSET', KEYS[1], 'meta', ARGV[1])
  if tonumber(ARGV[2]) > 0 then
    redis.call('HSET', KEYS[1], 'maxc', ARGV[2], 'dlq', ARGV[3], 'dlqttl', ARGV[4])
  else
    redis.call('HDEL', KEYS[1], 'maxc', 'dlq', 'dlqttl')
  end
end
`

// createQueue: returns 1 when created, 0 when it existed (unchanged).
var createQueueScript = newScript(luaSetMeta + `
if redis.call('HEXISTS', KEYS[1], 'meta') == 1 then return 0 end
setmeta()
return 1
`)

// setMeta: returns 0 when the queue does not exist.
var setMetaScript = newScript(luaSetMeta + `
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return 0 end
setmeta()
return 1
`)

// Subscription keys: 1 subscriptions hash (id -> record without
// options), 2 options hash (id -> raw JSON), 3 subscriber index hash
// (subscriber -> id), 4 expiry zset (score = expires). Record: sub, t ttl, c created, e expires, ok
// confirmed.

// subCreate: ARGV now, new id, subscriber, ttl, options. Returns {id,
// created(0/1)}: an existing live subscription of the subscriber wins.
var subCreateScript = newScript(`
local now, id, sub, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local old = redis.call('HGET', KEYS[3], sub)
if old then
  local raw = redis.call('HGET', KEYS[1], old)
  if raw and cjson.decode(raw).e > now then return {old, 0} end
end
redis.call('HSET', KEYS[1], id, cjson.encode({sub = sub, t = ttl, c = now, e = now + ttl * 1000, ok = false}))
redis.call('HSET', KEYS[2], id, ARGV[5])
redis.call('HSET', KEYS[3], sub, id)
redis.call('ZADD', KEYS[4], now + ttl * 1000, id)
return {id, 1}
`)

// subUpdate: ARGV now, id, subscriber (” = keep), ttl (-1 = keep),
// options (” = keep), confirmed (” = keep, '0', '1'). Returns 0 ok, 1
// not found, 2 duplicate subscriber.
var subUpdateScript = newScript(`
local now, id = tonumber(ARGV[1]), ARGV[2]
local raw = redis.call('HGET', KEYS[1], id)
if not raw then return 1 end
local s = cjson.decode(raw)
if s.e <= now then return 1 end
if ARGV[3] ~= '' and ARGV[3] ~= s.sub then
  local other = redis.call('HGET', KEYS[3], ARGV[3])
  if other and other ~= id then
    local oraw = redis.call('HGET', KEYS[1], other)
    if oraw and cjson.decode(oraw).e > now then return 2 end
  end
  if redis.call('HGET', KEYS[3], s.sub) == id then redis.call('HDEL', KEYS[3], s.sub) end
  s.sub = ARGV[3]
  redis.call('HSET', KEYS[3], s.sub, id)
end
local ttl = tonumber(ARGV[4])
if ttl >= 0 then
  s.t, s.c, s.e = ttl, now, now + ttl * 1000
  redis.call('ZADD', KEYS[4], s.e, id)
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], id, ARGV[5]) end
if ARGV[6] ~= '' then s.ok = ARGV[6] == '1' end
redis.call('HSET', KEYS[1], id, cjson.encode(s))
return 0
`)

// subDelete: ARGV id.
var subDeleteScript = newScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local s = cjson.decode(raw)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[3], s.sub) == ARGV[1] then redis.call('HDEL', KEYS[3], s.sub) end
return 1
`)

// sweep: queue KEYS 1-6, subscription KEYS 7-10, then the delay zset;
// ARGV now, budget, wake channel. Removes up to budget expired messages,
// claims and subscriptions each, found through the expiry zsets (an entry
// whose record was extended since is re-scored), and up to budget ended
// delays. Publishes when a claim ran out still holding messages (those a
// consumer deleted do not count: most claims end that way) or a delay
// ended. Returns {messages removed, queue still exists or has
// subscriptions (0/1)}.
var sweepScript = newScript(`
local now, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local function due(zset)
  return redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, budget)
end
local removed = 0
local ids = due(KEYS[5])
if #ids > 0 then
  local recs = redis.call('HMGET', KEYS[2], unpack(ids))
  local doomed = {}
  for i, id in ipairs(ids) do
    local e = recs[i] and cjson.decode(recs[i]).e or 0
    if e > now then redis.call('ZADD', KEYS[5], e, id) else doomed[#doomed + 1] = id end
  end
  if #doomed > 0 then
    redis.call('HDEL', KEYS[2], unpack(doomed))
    redis.call('ZREM', KEYS[3], unpack(doomed))
    redis.call('ZREM', KEYS[5], unpack(doomed))
    removed = #doomed
  end
end
local wake = false
for _, cid in ipairs(due(KEYS[6])) do
  local raw = redis.call('HGET', KEYS[4], cid)
  local c = raw and cjson.decode(raw)
  if c and c.e > now then
    redis.call('ZADD', KEYS[6], c.e, cid)
  else
    redis.call('HDEL', KEYS[4], cid)
    redis.call('ZREM', KEYS[6], cid)
    if c and not wake and #c.ids > 0 then
      for _, m in ipairs(redis.call('HMGET', KEYS[2], unpack(c.ids))) do
        if m then wake = true; break end
      end
    end
  end
end
local ended = redis.call('ZRANGEBYSCORE', KEYS[11], '-inf', now, 'LIMIT', 0, budget)
if #ended > 0 then
  redis.call('ZREM', KEYS[11], unpack(ended))
  wake = true
end
if wake then redis.call('PUBLISH', ARGV[3], '') end
for _, id in ipairs(due(KEYS[10])) do
  local raw = redis.call('HGET', KEYS[7], id)
  local s = raw and cjson.decode(raw)
  if s and s.e > now then
    redis.call('ZADD', KEYS[10], s.e, id)
  else
    redis.call('HDEL', KEYS[7], id)
    redis.call('HDEL', KEYS[8], id)
    redis.call('ZREM', KEYS[10], id)
    if s and redis.call('HGET', KEYS[9], s.sub) == id then redis.call('HDEL', KEYS[9], s.sub) end
  end
end
local keep = redis.call('EXISTS', KEYS[1]) + redis.call('HLEN', KEYS[7])
if keep > 0 then keep = 1 end
return {removed, keep}
`)

// scriptSources keeps each script's Lua text, which redis.Script does not
// expose, so tests can read what keys the scripts touch.
var scriptSources = map[*redis.Script]string{}

func newScript(src string) *redis.Script {
	s := redis.NewScript(src)
	scriptSources[s] = src
	return s
}
