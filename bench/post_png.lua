-- wrk script: POST a prebuilt multipart/form-data body (one or many MNIST PNGs) on every request.
-- The body file and its Content-Type come from the environment (bench/load.py sets them):
--   BENCH_BODY          path of the body file
--   BENCH_CONTENT_TYPE  "multipart/form-data; boundary=..."
-- done() prints one line "BENCH_RESULT {json}" that bench/load.py parses.

local path = os.getenv("BENCH_BODY")
local content_type = os.getenv("BENCH_CONTENT_TYPE")
if not path or not content_type then
  io.stderr:write("post_png.lua: set BENCH_BODY and BENCH_CONTENT_TYPE\n")
  os.exit(2)
end
local file = assert(io.open(path, "rb"), "post_png.lua: cannot open " .. path)
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = content_type

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,'
      .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
