-- Consume messages from the URL's queue (Zaqar v2), as MODE says:
--   claim         POST .../claims?limit=10 only (the messages stay claimed)
--   bulk          claim 10, then DELETE .../messages?ids=...&claim_ids=...
--   bulk-noclaim  claim 10, then DELETE .../messages?ids=... (no claim id)
--   single        claim 10, then 10 x DELETE .../messages/ID?claim_id=...
--   pop           DELETE .../messages?pop=10
--   MODE=bulk wrk -s consume.lua http://HOST:PORT/v2/queues/NAME
--   MODE=bulk WAIT=1 ...  claims wait up to 1 s for messages (?wait=1)
-- Deletes go before new claims, so each connection alternates. done() prints
-- "counts requests=.. messages=.. empty=.. failed=..": messages consumed
-- (claimed, for MODE=claim), the claims or pops that found nothing (a backlog
-- too small) and the requests answered with an error.
local mode = os.getenv("MODE") or "bulk"
-- WAIT=N: claims long-poll up to N seconds for messages (?wait=N).
local wait = os.getenv("WAIT")
local claimPath = "/claims?limit=10" .. ((wait and wait ~= "") and ("&wait=" .. wait) or "")
local base = wrk.path
local headers = {
  ["Client-ID"] = "3a1d6a3e-0000-4000-8000-000000000001",
  ["X-Project-ID"] = "wrk",
}
local claimHeaders = {
  ["Client-ID"] = headers["Client-ID"], ["X-Project-ID"] = headers["X-Project-ID"],
  ["Content-Type"] = "application/json",
}
local claimBody = '{"ttl": 300, "grace": 60}'
local pending = {}
requests_ok, messages, empty, failed = 0, 0, 0, 0

function request()
  if mode == "pop" then
    return wrk.format("DELETE", base .. "/messages?pop=10", headers)
  end
  local n = #pending
  if n > 0 then
    local path = pending[n]
    pending[n] = nil
    return wrk.format("DELETE", path, headers)
  end
  return wrk.format("POST", base .. claimPath, claimHeaders, claimBody)
end

function response(status, hdrs, body)
  if status >= 400 then
    failed = failed + 1
    return
  end
  requests_ok = requests_ok + 1
  if status == 204 then
    return -- a delete, or a claim that found nothing (counted below)
  end
  local ids = {}
  for id in string.gmatch(body, '"id":"(%x+)"') do ids[#ids + 1] = id end
  if #ids == 0 then empty = empty + 1 return end
  if mode == "pop" or mode == "claim" then
    messages = messages + #ids
    return
  end
  local loc = hdrs["Location"] or hdrs["location"] or ""
  local claim = string.match(loc, "/claims/([%x%-]+)")
  messages = messages + #ids
  if mode == "single" then
    for _, id in ipairs(ids) do
      pending[#pending + 1] = base .. "/messages/" .. id .. "?claim_id=" .. claim
    end
  elseif mode == "bulk-noclaim" then
    pending[#pending + 1] = base .. "/messages?ids=" .. table.concat(ids, ",")
  else
    pending[#pending + 1] = base .. "/messages?ids=" .. table.concat(ids, ",") .. "&claim_ids=" .. claim
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function done()
  local r, m, e, f = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    r, m, e, f = r + t:get("requests_ok"), m + t:get("messages"), e + t:get("empty"), f + t:get("failed")
  end
  io.write(string.format("counts requests=%d messages=%d empty=%d failed=%d\n", r, m, e, f))
end
