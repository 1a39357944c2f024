package redisq

import (
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts that make every state change of a key atomic. Each is
// documented with its KEYS and ARGV; all times are integer milliseconds
// since 1970. A key's hash holds:
//
//	state      "scheduled", "inflight" or "dead"
//	due        scheduled: its due time; in flight: the due time it was claimed at
//	pending    in flight only: the due time scheduled while it ran, if any
//	token      in flight only: the lease token
//	leaseEnd   in flight only: when the lease ends (also its score in the lease set)
//	died       dead only: when it died (also its score in the dead set)
//	attempts   failed attempts (Retry, Kill, expired leases) since the last Ack or Replay (absent: 0)
//	firstFail  time of the first of those failures (absent: none)
//	lastError  the last failure's text
//
// Times a script acts on come from ARGV when the queue has a clock
// (queue.Options.Now) and from the server's TIME otherwise, so that the
// replicas of Tenure never disagree about what is due; Redis 7 replicates
// a script's effects, not the script, so reading TIME is allowed.
//
// Lua numbers are doubles, exact for any time in milliseconds, but
// redis.call formats numbers with %.14g, which rounds times past the year
// 5138: prelude's fmt formats them as integers instead.

// script is a Lua script that changes the queue, run by Queue.once.
type script struct {
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// prelude is prepended to every script that takes a time or a lease.
const prelude = `
local function fmt(n) return string.format('%d', n) end

-- clock returns the time to act on: arg, or the server's time if arg is ''.
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- held reports whether job is in flight under token and its lease has not
-- ended at now.
local function held(job, token, now)
  local v = redis.call('HMGET', job, 'state', 'token', 'leaseEnd')
  return v[1] == 'inflight' and v[2] == token and tonumber(v[3]) > now
end

-- fail records a failed attempt, at time at, of the in-flight key k whose
-- hash is job and which the caller has removed from the lease set: the key
-- dies if it has been failing for longer than horizon, else it is
-- scheduled at the earlier of due and its pending due. It returns 'dead'
-- or 'scheduled'.
local function fail(dueSet, deadSet, job, k, at, due, horizon, msg)
  local v = redis.call('HMGET', job, 'attempts', 'firstFail', 'pending')
  local attempts = fmt((tonumber(v[1]) or 0) + 1)
  local ff = tonumber(v[2]) or at
  redis.call('HDEL', job, 'pending', 'token', 'leaseEnd')
  if at - ff > horizon then
    redis.call('ZADD', deadSet, fmt(at), k)
    redis.call('HDEL', job, 'due')
    redis.call('HSET', job, 'state', 'dead', 'died', fmt(at), 'attempts', attempts,
      'firstFail', fmt(ff), 'lastError', msg)
    return 'dead'
  end
  if v[3] and tonumber(v[3]) < due then due = tonumber(v[3]) end
  redis.call('ZADD', dueSet, fmt(due), k)
  redis.call('HSET', job, 'state', 'scheduled', 'due', fmt(due), 'attempts', attempts,
    'firstFail', fmt(ff), 'lastError', msg)
  return 'scheduled'
end
`

// scheduleScript makes a key due (Schedule, ScheduleTx).
//
//	KEYS[1]  due set     KEYS[2]  the key's hash
//	ARGV[1]  key         ARGV[2]  due
//
// A scheduled or new key keeps the earlier of its due time and ARGV[2]
// (ZADD LT, skipped when the due time stays); an in-flight key records it as pending, the earliest pending
// winning; a dead key stays dead. It returns the key's state. It cannot
// fail on valid arguments, which matters inside a store MULTI/EXEC: Redis
// would not roll back the store's writes.
var scheduleScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[2], 'state', 'pending', 'due')
if v[1] == 'inflight' then
  if not v[2] or tonumber(ARGV[2]) < tonumber(v[2]) then
    redis.call('HSET', KEYS[2], 'pending', ARGV[2])
  end
  return v[1]
elseif v[1] == 'dead' then
  return v[1]
end
if v[3] and tonumber(v[3]) <= tonumber(ARGV[2]) then return 'scheduled' end
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'scheduled', 'due', ARGV[2])
return 'scheduled'
`)

// claimScript leases due keys (Claim). It first ends up to ARGV[5]
// expired leases, each a failed attempt at its lease end (see fail in the
// prelude): the key dies past the retry horizon, else it goes back to the
// schedule at the earlier of the due time it was claimed at and its
// pending due. Then it moves up to ARGV[2] keys due at or before now,
// earliest first (ties in byte order of the key, as the sorted set orders
// them), into the lease set, the i-th key under the lease token ARGV[8]
// followed by i.
//
//	KEYS[1]  due set     KEYS[2]  lease set   KEYS[3]  dead set
//	ARGV[1]  now, or '' for the server's time
//	ARGV[2]  n           ARGV[3]  lease duration
//	ARGV[4]  the prefix of the keys' hashes
//	ARGV[5]  most expired leases to end in this call
//	ARGV[6]  retry horizon
//	ARGV[7]  the last error of an expired lease
//	ARGV[8]  the start of the lease tokens: random, unique to the call
//
// It returns {now, expired, {keys that died}, key1, due1, attempts1,
// key2, …}. The hashes' keys are not declared: they share the sets' hash
// tag, hence their slot.
var claimScript = newScript(prelude + `
local now = clock(ARGV[1])
local snow = fmt(now)
local expired = redis.call('ZRANGE', KEYS[2], '-inf', snow, 'BYSCORE', 'LIMIT', 0, ARGV[5], 'WITHSCORES')
local dead = {}
for i = 1, #expired, 2 do
  local k = expired[i]
  local job = ARGV[4] .. k
  redis.call('ZREM', KEYS[2], k)
  local due = tonumber(redis.call('HGET', job, 'due'))
  if due and fail(KEYS[1], KEYS[3], job, k, tonumber(expired[i + 1]), due, tonumber(ARGV[6]), ARGV[7]) == 'dead' then
    dead[#dead + 1] = k
  end
end
local out = {now, #expired / 2, dead}
local n = tonumber(ARGV[2])
if n <= 0 then return out end
local due = redis.call('ZRANGE', KEYS[1], '-inf', snow, 'BYSCORE', 'LIMIT', 0, n, 'WITHSCORES')
if #due == 0 then return out end
local send = fmt(now + tonumber(ARGV[3]))
local ks, leases = {}, {}
for i = 1, #due, 2 do
  local k = due[i]
  local job = ARGV[4] .. k
  ks[#ks + 1] = k
  leases[#leases + 1] = send
  leases[#leases + 1] = k
  redis.call('HSET', job, 'state', 'inflight', 'token', ARGV[8] .. fmt((i + 1) / 2), 'leaseEnd', send)
  out[#out + 1] = k
  out[#out + 1] = due[i + 1]
  out[#out + 1] = redis.call('HGET', job, 'attempts') or '0'
end
redis.call('ZREM', KEYS[1], unpack(ks))
redis.call('ZADD', KEYS[2], unpack(leases))
return out
`)

// extendScript pushes a held lease's end to now + lease (Extend).
//
//	KEYS[1]  lease set   KEYS[2]  the key's hash
//	ARGV[1]  key         ARGV[2]  token
//	ARGV[3]  now, or ''  ARGV[4]  lease duration
//
// It returns {'lost'} if the caller does not hold the lease, else
// {'ok', leaseEnd, due, attempts}.
var extendScript = newScript(prelude + `
local now = clock(ARGV[3])
if not held(KEYS[2], ARGV[2], now) then return {'lost'} end
local send = fmt(now + tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], 'XX', send, ARGV[1])
redis.call('HSET', KEYS[2], 'leaseEnd', send)
local v = redis.call('HMGET', KEYS[2], 'due', 'attempts')
return {'ok', send, v[1], v[2] or '0'}
`)

// ackScript finishes held jobs (Ack, AckMany): each key leaves the queue,
// or goes back to the schedule at its pending due, with its failures
// forgotten. Many jobs share one call, so that a worker acking a batch
// pays one round trip and the lease set one ZREM.
//
//	KEYS[1]  due set     KEYS[2]  lease set
//	ARGV[1]  now, or ''  ARGV[2]  the prefix of the keys' hashes
//	ARGV[3…]  key1, token1, key2, token2, …
//
// It returns one integer per job: 0 if the caller does not hold its lease
// (lost), 1 if the key left the queue, 2 if it was scheduled. The hashes'
// keys are not declared: they share the sets' hash tag, hence their slot.
var ackScript = newScript(prelude + `
local now = clock(ARGV[1])
local out, acked, gone, seen = {}, {}, {}, {}
for i = 3, #ARGV, 2 do
  local k = ARGV[i]
  local job = ARGV[2] .. k
  local v = redis.call('HMGET', job, 'state', 'token', 'leaseEnd', 'pending')
  if seen[k] or v[1] ~= 'inflight' or v[2] ~= ARGV[i + 1] or tonumber(v[3]) <= now then
    out[#out + 1] = 0
  elseif v[4] then
    acked[#acked + 1] = k
    seen[k] = true
    redis.call('DEL', job)
    redis.call('ZADD', KEYS[1], v[4], k)
    redis.call('HSET', job, 'state', 'scheduled', 'due', v[4])
    out[#out + 1] = 2
  else
    acked[#acked + 1] = k
    gone[#gone + 1] = job
    seen[k] = true -- acked: a second job of the key in this call is lost
    out[#out + 1] = 1
  end
end
if #acked > 0 then redis.call('ZREM', KEYS[2], unpack(acked)) end
if #gone > 0 then redis.call('DEL', unpack(gone)) end
return out
`)

// retryScript returns a failed job to the schedule at now + after, or its
// pending due if earlier, counting the attempt (Retry). A key failing for
// longer than the horizon since its first failure dies instead.
//
//	KEYS[1]  due set     KEYS[2]  lease set   KEYS[3]  dead set
//	KEYS[4]  the key's hash
//	ARGV[1]  key         ARGV[2]  token       ARGV[3]  now, or ''
//	ARGV[4]  after       ARGV[5]  error text  ARGV[6]  retry horizon
//
// It returns 'lost', 'scheduled' or 'dead'.
var retryScript = newScript(prelude + `
local now = clock(ARGV[3])
if not held(KEYS[4], ARGV[2], now) then return 'lost' end
redis.call('ZREM', KEYS[2], ARGV[1])
return fail(KEYS[1], KEYS[3], KEYS[4], ARGV[1], now, now + tonumber(ARGV[4]), tonumber(ARGV[6]), ARGV[5])
`)

// killScript makes a held job a dead letter now, counting the attempt and
// dropping its pending due (Kill).
//
//	KEYS[1]  lease set   KEYS[2]  dead set    KEYS[3]  the key's hash
//	ARGV[1]  key         ARGV[2]  token       ARGV[3]  now, or ''
//	ARGV[4]  error text
//
// It returns 'lost' or 'dead'.
var killScript = newScript(prelude + `
local now = clock(ARGV[3])
if not held(KEYS[3], ARGV[2], now) then return 'lost' end
local v = redis.call('HMGET', KEYS[3], 'attempts', 'firstFail')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], fmt(now), ARGV[1])
redis.call('HDEL', KEYS[3], 'pending', 'token', 'leaseEnd', 'due')
redis.call('HSET', KEYS[3], 'state', 'dead', 'died', fmt(now), 'attempts', fmt((tonumber(v[1]) or 0) + 1),
  'firstFail', fmt(tonumber(v[2]) or now), 'lastError', ARGV[4])
return 'dead'
`)

// replayScript schedules a dead key now with a clean failure record (Replay).
//
//	KEYS[1]  due set     KEYS[2]  dead set    KEYS[3]  the key's hash
//	ARGV[1]  key         ARGV[2]  now, or ''
//
// It returns 'notfound' unless the key is dead, else 'scheduled'.
var replayScript = newScript(prelude + `
if redis.call('HGET', KEYS[3], 'state') ~= 'dead' then return 'notfound' end
local now = fmt(clock(ARGV[2]))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'state', 'scheduled', 'due', now)
return 'scheduled'
`)

// cancelScript removes a scheduled or dead key, or drops an in-flight
// key's pending due (Cancel).
//
//	KEYS[1]  due set     KEYS[2]  dead set    KEYS[3]  the key's hash
//	ARGV[1]  key
//
// It returns 'notfound' if the queue does not hold the key, else 'ok'.
var cancelScript = newScript(`
local st = redis.call('HGET', KEYS[3], 'state')
if st == 'scheduled' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[3])
elseif st == 'dead' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
elseif st == 'inflight' then
  redis.call('HDEL', KEYS[3], 'pending')
else
  return 'notfound'
end
return 'ok'
`)

// listScript reads a page of one state's set with each key's hash (List),
// atomically, so that no key is listed in a state it has just left.
//
//	KEYS[1]  the state's set
//	ARGV[1]  first rank  ARGV[2]  last rank
//	ARGV[3]  the prefix of the keys' hashes
//
// It returns, per key: key, then the hash's fields in the order of
// entryFields.
var listScript = redis.NewScript(`
local ks = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, k in ipairs(ks) do
  out[#out + 1] = k
  local v = redis.call('HMGET', ARGV[3] .. k,
    'state', 'due', 'pending', 'leaseEnd', 'died', 'attempts', 'firstFail', 'lastError')
  for i = 1, 8 do out[#out + 1] = v[i] end
end
return out
`)

// entryFields are the hash fields Get and List read, in listScript's order.
var entryFields = []string{"state", "due", "pending", "leaseEnd", "died", "attempts", "firstFail", "lastError"}
