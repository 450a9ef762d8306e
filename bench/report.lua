-- wrk script for bench/run.py: method and body come from the environment, the summary is one JSON line.
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    request body (sent with content-type application/json when set)
-- Headers are passed with wrk -H. No response() callback: it would make wrk itself slower.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
wrk.method = method
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["content-type"] = "application/json"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"lat_mean_us":%.1f,"lat_max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
