-- One wrk script for every scenario, configured through the environment:
--   BENCH_METHOD (GET|POST), BENCH_PATH, BENCH_BODY, BENCH_AUTH (Authorization header),
--   BENCH_EXPECT (a string every good body contains),
--   BENCH_REFRESH_FILE (one refresh token a line: refresh grants with rotation; each
--   response's new refresh_token goes back into the thread's queue).
-- A response counts as good only with status 200 and the expected text; the summary line
-- starting with BENCHJSON is read by bench.mjs.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local method, path, body, expect, queue, refresh, headers

function init(args)
  good, bad = 0, 0
  method = os.getenv("BENCH_METHOD") or "GET"
  path = os.getenv("BENCH_PATH") or "/"
  body = os.getenv("BENCH_BODY")
  expect = os.getenv("BENCH_EXPECT")
  headers = {}
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  if method == "POST" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  local file = os.getenv("BENCH_REFRESH_FILE")
  if file and file ~= "" then
    refresh = true
    queue = {}
    local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
    local i = 0
    for line in io.lines(file) do
      if i % nthreads == tid - 1 and line ~= "" then table.insert(queue, line) end
      i = i + 1
    end
  else
    wrk.method, wrk.body = method, body
    for k, v in pairs(headers) do wrk.headers[k] = v end
  end
end

function request()
  if not refresh then return wrk.request() end
  local token = table.remove(queue, 1) or "exhausted"
  return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, hdrs, resp)
  if status == 200 and (expect == nil or expect == "" or string.find(resp, expect, 1, true)) then
    good = good + 1
    if refresh then
      local rt = string.match(resp, '"refresh_token"%s*:%s*"([^"]+)"')
      if rt then table.insert(queue, rt) end
    end
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("bad response " .. status .. ": " .. string.sub(resp or "", 1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do
    g = g + (t:get("good") or 0)
    b = b + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"good":%d,"bad":%d,"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, g, b, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max))
end
