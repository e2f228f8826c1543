-- wrk script for scripts/bench.py: cycles through a list of request paths.
--
--   wrk -t2 -c16 -d5s -s scripts/bench_cycle.lua http://127.0.0.1:8190 -- /tmp/requests.txt
--
-- The file holds one request per line: a path (with its query string) for a GET, or
-- "POST <path> <body>" (the body a line of JSON) for a POST. Each wrk thread
-- starts at a different place in the list so that concurrent connections do not
-- all send the same request at the same moment. At the end one JSON line,
-- prefixed with "BENCH_JSON ", reports the counts and latency percentiles (us).

local requests = {}
local counter = 0
local threads = {}

local function load(file)
  local list = {}
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    if #line > 0 then list[#list + 1] = line end
  end
  f:close()
  return list
end

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- every request formatted once, up front: request() only picks the next one
function init(args)
  local get = {["Accept"] = "application/fhir+json"}
  local post = {["Accept"] = "application/fhir+json", ["Content-Type"] = "application/fhir+json"}
  for _, line in ipairs(load(args[1])) do
    local path, body = line:match("^POST (%S+) (.*)$")
    if path then
      requests[#requests + 1] = wrk.format("POST", path, post, body)
    else
      requests[#requests + 1] = wrk.format("GET", line, get)
    end
  end
  counter = (id or 0) * 7919
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
