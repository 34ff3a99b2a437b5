"""The server-side Lua scripts: every write to the input stream, and the lease.

Each script runs atomically in Redis, so a check and the write it guards cannot be separated
by another client's command. They are sent once per connection by redis-py's `Script` objects
(EVALSHA, with a fallback to EVAL after a Redis restart emptied the script cache).

- `APPEND`: a publisher's batch of envelopes, then the capped trim (`TRIM_HELPER`).
- `FENCED_APPEND`: a leader's batch, appended only if its fencing token is still the current
  one (and, for a decision, only if the stream still ends where the leader last read it); then
  the same capped trim. This is the only way a leader writes.
- `ACQUIRE`, `RENEW`, `RELEASE`: the lease. `ACQUIRE` is `SET lease owner NX PX ms` and, when
  it succeeds, `INCR fence` in the same atomic step: each acquisition gets a new, larger token.

The trimming rule (`TRIM_HELPER`): when the stream holds more than `cap` entries, trim the
oldest ones down to `cap`, but never past the first entry some consumer group still needs: the
oldest entry of its pending list, or (nothing pending) its last delivered entry. Every replica
has a group whose last delivered id is the position it recorded after logging a batch
(`position.StreamPosition`; its pending list stays empty), so an entry a live replica has not
read and logged is never dropped; a stream with a lagging replica grows beyond `cap` until it
catches up. With no group at all the plain cap applies.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACQUIRE", "APPEND", "FENCED_APPEND", "RELEASE", "RENEW", "TRIM_HELPER"]

#: `trim(stream, cap)`: see the module docstring. `id_less` compares stream ids numerically
#: (milliseconds, then sequence; both fit a Lua double exactly).
TRIM_HELPER: Final = """
local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams < bms end
  return tonumber(aseq) < tonumber(bseq)
end

local function trim(stream, cap)
  cap = tonumber(cap)
  if cap == nil or cap <= 0 then return 0 end
  local over = redis.call('XLEN', stream) - cap
  if over <= 0 then return 0 end
  local safe = nil
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
    local keep = info['last-delivered-id']
    if tonumber(info['pending']) > 0 then
      keep = redis.call('XPENDING', stream, info['name'])[2]
    end
    if safe == nil or id_less(keep, safe) then safe = keep end
  end
  -- The entries up to `safe` are the only ones that may go; keep `cap` of the rest.
  local head = redis.call('XRANGE', stream, '-', safe or '+', 'COUNT', over + 1)
  local floor = safe
  if #head == over + 1 then floor = head[#head][1] end
  if floor == nil then return 0 end
  return redis.call('XTRIM', stream, 'MINID', floor)
end
"""

#: KEYS: stream. ARGV: cap, then one wire-format envelope (JSON text) per entry.
#: Returns the new entries' ids.
APPEND: Final = (
    TRIM_HELPER
    + """
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'envelope', ARGV[i])
end
trim(KEYS[1], ARGV[1])
return ids
"""
)

#: KEYS: stream, fence. ARGV: token, expected last id ('' = do not check), cap, envelopes…
#: Returns {'ok', id…}, {'stale', current token} or {'behind', the stream's last id}.
FENCED_APPEND: Final = (
    TRIM_HELPER
    + """
local current = redis.call('GET', KEYS[2])
if current ~= ARGV[1] then return {'stale', current or '0'} end
if ARGV[2] ~= '' then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  local last_id = '0-0'
  if #last > 0 then last_id = last[1][1] end
  if last_id ~= ARGV[2] then return {'behind', last_id} end
end
local reply = {'ok'}
for i = 4, #ARGV do
  reply[#reply + 1] = redis.call('XADD', KEYS[1], '*', 'envelope', ARGV[i], 'fence', ARGV[1])
end
trim(KEYS[1], ARGV[3])
return reply
"""
)

#: KEYS: lease, fence. ARGV: owner, lease milliseconds. Returns the new token, or 0 if the
#: lease is held by someone.
ACQUIRE: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""

#: KEYS: lease. ARGV: owner, lease milliseconds. 1 if renewed, 0 if the lease is not ours.
RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS: lease. ARGV: owner. 1 if released, 0 if it was not ours (expired, or taken over).
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
