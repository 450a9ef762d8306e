-- wrk script for bench/run.py: method and body come from the environment, the summary is one JSON line.
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    request body (sent with content-type application/json when set)
--   BENCH_PATHS   optional file with one path per line: requests rotate over those paths (e.g. one message per
--                 conversation in turn); the requests are formatted once per thread in init(), so request() only
--                 hands out a prebuilt string. Without it wrk sends the command-line URL (static request).
--                 A line "<path><TAB>name: value" also sets that header for its request (replacing a -H of the
--                 same name; give it in lower case as -H does), e.g. each tenant's own key.
-- Headers are passed with wrk -H. No response() callback: it would make wrk itself slower.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local paths_file = os.getenv("BENCH_PATHS")
wrk.method = method
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["content-type"] = "application/json"
end

if paths_file ~= nil and paths_file ~= "" then
  local paths = {}
  for line in io.lines(paths_file) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  local started = 0
  setup = function(thread)
    thread:set("thread_no", started)
    started = started + 1
  end
  init = function(args)
    prebuilt = {}
    for i, line in ipairs(paths) do
      local p, name, value = string.match(line, "^([^\t]*)\t%s*([^:]+):%s*(.-)%s*$")
      if p == nil then
        prebuilt[i] = wrk.format(nil, line)
      else
        local headers = {}
        for k, v in pairs(wrk.headers) do
          headers[k] = v
        end
        headers[string.lower(name)] = value
        prebuilt[i] = wrk.format(nil, p, headers)
      end
    end
    count = #prebuilt
    -- threads start half a round apart so they do not hit the same conversation together
    next_index = ((thread_no or 0) * math.floor(count / 2)) % count
  end
  request = function()
    next_index = next_index % count + 1
    return prebuilt[next_index]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"lat_mean_us":%.1f,"lat_max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
