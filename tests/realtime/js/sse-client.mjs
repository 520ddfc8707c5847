// Reads /api/events/<object> with the npm `eventsource` client and prints what arrives as JSON lines.
//
//   node sse-client.mjs URL --count N [--last-event-id ID] [--token JWT] [--timeout-ms MS]
//
// Prints {"type":"open"} once the stream is open, then one {"type":"<event>","id":...,"data":...} line per
// `change`, `reset` or server `error` event. Exits 0 after N change events, 2 on timeout, 3 when the server
// refuses or ends the stream for good.
import {EventSource} from 'eventsource'

function parseArgs(argv) {
  const options = {count: 1, lastEventId: null, token: null, timeoutMs: 10000}
  const [url, ...rest] = argv
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]]
    if (flag === '--count') options.count = Number(value)
    else if (flag === '--last-event-id') options.lastEventId = value
    else if (flag === '--token') options.token = value
    else if (flag === '--timeout-ms') options.timeoutMs = Number(value)
    else throw new Error(`unknown option ${flag}`)
  }
  if (!url) throw new Error('usage: sse-client.mjs URL [--count N] [--last-event-id ID] [--token JWT]')
  return {url, ...options}
}

const options = parseArgs(process.argv.slice(2))
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`)

// EventSource has no option for the first Last-Event-ID or for headers: a fetch wrapper adds them.
// The client's own Last-Event-ID (set on its reconnects) wins over the initial one.
const source = new EventSource(options.url, {
  fetch: (input, init) =>
    fetch(input, {
      ...init,
      headers: {
        ...(options.lastEventId !== null ? {'Last-Event-ID': options.lastEventId} : {}),
        ...(options.token !== null ? {Authorization: `Bearer ${options.token}`} : {}),
        ...init.headers,
      },
    }),
})

let changes = 0
const timer = setTimeout(() => {
  process.stderr.write(`timed out after ${options.timeoutMs} ms with ${changes} change(s)\n`)
  source.close()
  process.exit(2)
}, options.timeoutMs)

function finish(code) {
  clearTimeout(timer)
  source.close()
  process.exitCode = code
}

source.addEventListener('open', () => print({type: 'open'}))
for (const type of ['change', 'reset']) {
  source.addEventListener(type, (event) => {
    print({type, id: event.lastEventId, data: JSON.parse(event.data)})
    if (type === 'change' && ++changes >= options.count) finish(0)
  })
}
source.addEventListener('error', (event) => {
  if (event.data !== undefined) {
    print({type: 'error', data: JSON.parse(event.data)})
  } else if (source.readyState === EventSource.CLOSED) {
    process.stderr.write(`stream refused: ${event.code ?? ''} ${event.message ?? ''}\n`)
    finish(3)
  }
})
