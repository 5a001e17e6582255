-- wrk script: POSTs a distinct e-mail on every request (distinct subject), so every request
-- takes the full ingest path (dedup claim, enqueue, marker), not the already-processed shortcut.
local token = os.getenv("FACTEUR_BENCH_TOKEN") or "bench-process-token"
local prefix
local counter = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "1", 16))
  prefix = string.format("%d-%d", os.time(), math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"subject":"bench %s %d","sender":"Bench <bench@example.com>","body":"<p>Bonjour, fichiers: https://www.dropbox.com/scl/fo/abc/xyz?rlkey=k&dl=0</p>","date":"2026-11-28T10:00:00Z"}',
    prefix, counter)
  return wrk.format("POST", "/api/ingress/gmail",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end
