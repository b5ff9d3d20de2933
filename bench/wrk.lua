-- One script for every scenario, steered by environment variables:
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY: the request (GET by default)
--   BENCH_IDS: a file of instance ids; each request asks a random one in BENCH_PATH's %s
--   BENCH_AMZ_TARGET: call the emulator itself, as an SDK would (X-Amz-Target)
--   BENCH_API_KEY: sent as X-API-Key (peers that want none ignore it)
--   BENCH_UNIQUE: each request's body gets "#UNIQUE#" replaced by a counter, so every
--     GraphQL document is new to the gateway (an attacker's way past its caches)
-- done() prints one JSON line the runner parses.
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY")
local ids = {}
local ids_file = os.getenv("BENCH_IDS")
if ids_file then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
  wrk.method = method
  local api_key = os.getenv("BENCH_API_KEY")
  if api_key then wrk.headers["X-API-Key"] = api_key end
  if body then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
  local target = os.getenv("BENCH_AMZ_TARGET")
  if target then
    wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
    wrk.headers["X-Amz-Target"] = target
    wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 bench"
  end
end

local unique = os.getenv("BENCH_UNIQUE")
local counter = 0

function request()
  if unique then
    counter = counter + 1
    local fresh = string.gsub(body, "#UNIQUE#", "#" .. seed .. "-" .. counter)
    return wrk.format(nil, path, nil, fresh)
  end
  if #ids > 0 then
    return wrk.format(nil, string.format(path, ids[math.random(#ids)]))
  end
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
