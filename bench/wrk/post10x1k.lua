-- POST 10 messages of ~1 KiB each per request (Zaqar v2) to the URL's queue:
--   wrk -s post10x1k.lua http://HOST:PORT/v2/queues/NAME
-- The body is the one of perf-anchors' post10x1k.lua, built here.
local msgs = {}
for n = 0, 9 do
  msgs[#msgs + 1] = '{"ttl": 3600, "body": {"event": "bench", "payload": "' .. string.rep("x", 1000) .. '", "n": ' .. n .. '}}'
end
wrk.method = "POST"
wrk.path = wrk.path .. "/messages"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Client-ID"] = "3a1d6a3e-0000-4000-8000-000000000001"
wrk.headers["X-Project-ID"] = "wrk"
wrk.body = '{"messages": [' .. table.concat(msgs, ", ") .. ']}'

local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary)
  local n, f = 0, 0
  for _, t in ipairs(threads) do n, f = n + t:get("requests_ok"), f + t:get("failed") end
  io.write(string.format("counts requests=%d messages=%d empty=0 failed=%d\n", n, n * 10, f))
end
requests_ok, failed = 0, 0
function response(status)
  if status == 201 then requests_ok = requests_ok + 1 else failed = failed + 1 end
end
