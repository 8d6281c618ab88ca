#!/usr/bin/env node
// Reference automerge-repo client (automerge-repo 2.5.6, automerge 3.5.0) for Paindiary's tests.
//
// Every command prints exactly one JSON line on stdout. Success: exit 0. Failure: exit 1
// (2 for a usage error) with {"error":"...","kind":"usage|timeout|unavailable|disconnected|error"}.
// Diagnostics go to stderr only.
//
// Commands (common flags: --server ws://127.0.0.1:PORT, --token T, --timeout SECONDS (default 15)):
//   create --server S --json '<object>' [--text-strings|--raw-strings]
//       -> {"url":"automerge:...","documentId":"...","heads":[...]}
//   read   --server S --url automerge:...
//       -> {"doc":<plain JSON>,"heads":[...]}
//   change --server S --url U --path a.b.c --value '<json>' [--raw-strings]
//       -> {"ok":true,"heads":[...]}
//   refused-change --server S --url U --path a.b --value '<json>' --expect-path P --expect-value '<json>' [--watch SECONDS]
//       -> {"sent":N,"received":N,"errors":["..."],"doc":<plain JSON>}
//       Makes a change the server refuses (a document this user may only read), prints the
//       line "changed" on stderr, then counts the protocol messages both ways (from the
//       change on) until an `error` message came and the document holds the value at P
//       (a change made on the server meanwhile: reads go on), then for --watch seconds more
//       (default 2), in which a message loop would show.
//   load-bytes --file F                         (no network)
//       -> {"doc":<plain JSON>,"heads":[...]}
//   save-bytes --json '<object>' --file F [--raw-strings]   (no network)
//       -> {"file":F,"bytes":N,"heads":[...]}
//   import-write --server S --url automerge:ID --genesis BASE64 --set '<object>' [--raw-strings]
//       -> {"ok":true,"heads":[...]}
//       repo.import(genesis bytes, {docId: ID}) (how a phone creates a month offline from the
//       canonical genesis the server's documents endpoint serves), then one change that sets
//       every "dotted.path": value of --set (missing maps are created), then waits until the
//       server has every local head. The genesis header (schema, patient, month) must derive
//       to ID (docs/schema.md), otherwise a usage error: the server would refuse it anyway.
//
// Strings: by default JS automerge 3 writes strings as Text objects (--text-strings says so
// explicitly); --raw-strings writes scalar strings (A.ImmutableString). Input JSON may use
// {"$date":"<ISO>"}, {"$counter":N}, {"$bytes":"<base64>"} for those Automerge scalar types.
// Output JSON: Text and ImmutableString -> string, Date -> ISO string, Counter -> number,
// bytes -> {"$bytes":"<base64>"}. Heads are hex change hashes, sorted.
//
// --token T is appended to the server URL as the query parameter ?token=T (the browser
// WebSocket API cannot set an Authorization header).
//
// "The server has it": the client watches the repo's collection synchronizer "sync-state"
// events (repo.synchronizer, a public-but-hidden field). Each carries the Automerge sync
// state with the server peer; its theirHeads are the heads the server last reported in a
// sync message. A write is acknowledged once every local head is among theirHeads, i.e. the
// server has applied our changes and replied. A read waits until every head the server
// reported is in the local document.

import { createHash } from "node:crypto"
import fs from "node:fs"
import * as A from "@automerge/automerge"
import { Repo, isValidAutomergeUrl, parseAutomergeUrl, stringifyAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { decode as cborDecode } from "cbor-x"
import { SyncWatcher, heads, toAutomerge, toPlain } from "./lib.mjs"

// The stock WebSocket adapter, counting the protocol messages it sends and receives and
// keeping the text of `error` messages (the stock adapter only logs those).
class CountingAdapter extends WebSocketClientAdapter {
  constructor(url) {
    super(url)
    this.sent = 0
    this.received = 0
    this.errors = []
  }
  send(message) {
    this.sent++
    return super.send(message)
  }
  receiveMessage(bytes) {
    this.received++
    try {
      const message = cborDecode(new Uint8Array(bytes))
      if (message?.type === "error") this.errors.push(String(message.message))
    } catch {
      // the stock adapter reports undecodable frames itself
    }
    return super.receiveMessage(bytes)
  }
}

class CliError extends Error {
  constructor(kind, message) {
    super(message)
    this.kind = kind
  }
}

let finished = false
function emit(obj, code) {
  if (finished) return
  finished = true
  const line = JSON.stringify(obj) + "\n"
  process.stdout.write(line, () => process.exit(code))
  // If stdout is a closed pipe the callback may never run.
  setTimeout(() => process.exit(code), 1000).unref()
}
function fail(err) {
  const kind = err instanceof CliError ? err.kind : "error"
  emit({ error: String(err?.message ?? err), kind }, kind === "usage" ? 2 : 1)
}
process.on("uncaughtException", err => fail(err))
process.on("unhandledRejection", err => fail(err))

function parseArgs(argv) {
  const [command, ...rest] = argv
  const flags = { timeout: "15", strings: "text" }
  const valued = new Set(["server", "url", "token", "timeout", "json", "path", "value", "file", "genesis", "set", "expect-path", "expect-value", "watch"])
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]
    if (!a.startsWith("--")) throw new CliError("usage", `unexpected argument ${a}`)
    let name = a.slice(2)
    let value
    const eq = name.indexOf("=")
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    }
    if (name === "text-strings") flags.strings = "text"
    else if (name === "raw-strings") flags.strings = "raw"
    else if (valued.has(name)) {
      if (value === undefined) {
        if (i + 1 >= rest.length) throw new CliError("usage", `--${name} needs a value`)
        value = rest[++i]
      }
      flags[name] = value
    } else throw new CliError("usage", `unknown flag --${name}`)
  }
  const timeout = Number(flags.timeout)
  if (!(timeout > 0)) throw new CliError("usage", `bad --timeout ${flags.timeout}`)
  flags.timeoutMs = timeout * 1000
  return { command, flags }
}

function need(flags, name) {
  if (flags[name] === undefined) throw new CliError("usage", `--${name} is required`)
  return flags[name]
}

function parseJson(text, what) {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new CliError("usage", `${what} is not JSON: ${e.message}`)
  }
}

function serverUrl(flags) {
  let url = need(flags, "server")
  if (flags.token !== undefined) {
    url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(flags.token)
  }
  return url
}

function connect(flags, adapter = new WebSocketClientAdapter(serverUrl(flags))) {
  const repo = new Repo({
    network: [adapter],
    peerId: `js-client-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  })
  return { repo, watcher: new SyncWatcher(repo) }
}

async function find(repo, url, timeoutMs) {
  if (!isValidAutomergeUrl(url)) throw new CliError("usage", `not an automerge URL: ${url}`)
  try {
    return await repo.find(url, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (e) {
    if (/unavailable/i.test(String(e?.message))) {
      if (repo.peers.length === 0)
        throw new CliError("disconnected", `${e.message} (no connection to the server)`)
      throw new CliError("unavailable", e.message)
    }
    if (e?.name === "TimeoutError" || e?.name === "AbortError")
      throw new CliError("timeout", `timed out finding ${url}`)
    throw e
  }
}

function setPath(root, path, value) {
  const parts = path.split(".")
  if (parts.some(p => p === "")) throw new CliError("usage", `bad --path ${path}`)
  let obj = root
  for (const p of parts.slice(0, -1)) {
    const key = Array.isArray(obj) ? Number(p) : p
    if (obj[key] === undefined || obj[key] === null) obj[key] = {}
    obj = obj[key]
    if (typeof obj !== "object") throw new CliError("usage", `--path ${path}: ${p} is not a map or list`)
  }
  const last = parts[parts.length - 1]
  obj[Array.isArray(obj) ? Number(last) : last] = value
}

// The derived document ID (docs/schema.md, "Document IDs") of a document with this header.
function derivedUrl(header) {
  const { schema, patient, month } = header
  const hex = typeof patient === "string" ? patient.replace(/-/g, "") : ""
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new CliError("usage", "genesis: patient is not a UUID")
  const parts = [Buffer.from(String(schema)), Buffer.from([0]), Buffer.from(hex, "hex")]
  if (month !== undefined && month !== null) parts.push(Buffer.from([0]), Buffer.from(String(month)))
  const digest = createHash("sha256").update(Buffer.concat(parts)).digest()
  return stringifyAutomergeUrl({ documentId: new Uint8Array(digest.subarray(0, 16)) })
}

function parseGenesis(base64, url) {
  const bytes = new Uint8Array(Buffer.from(base64, "base64"))
  let doc
  try {
    doc = A.load(bytes)
  } catch (e) {
    throw new CliError("usage", `--genesis is not an Automerge document: ${e.message}`)
  }
  const expected = derivedUrl(toPlain({ schema: doc.schema, patient: doc.patient, month: doc.month }))
  if (expected !== url) throw new CliError("usage", `--genesis belongs to ${expected}, not ${url}`)
  return bytes
}

const commands = {
  async create(flags) {
    const init = parseJson(need(flags, "json"), "--json")
    if (init === null || typeof init !== "object" || Array.isArray(init))
      throw new CliError("usage", "--json must be a JSON object")
    const { repo, watcher } = connect(flags)
    const handle = repo.create(toAutomerge(init, flags.strings))
    await handle.whenReady()
    await watcher.serverHas(handle)
    return { url: handle.url, documentId: handle.documentId, heads: heads(handle.doc()) }
  },

  async read(flags) {
    const { repo, watcher } = connect(flags)
    const handle = await find(repo, need(flags, "url"), flags.timeoutMs)
    await watcher.weHave(handle)
    const doc = handle.doc()
    return { doc: toPlain(doc), heads: heads(doc) }
  },

  async change(flags) {
    const path = need(flags, "path")
    const value = toAutomerge(parseJson(need(flags, "value"), "--value"), flags.strings)
    const { repo, watcher } = connect(flags)
    const handle = await find(repo, need(flags, "url"), flags.timeoutMs)
    await watcher.weHave(handle)
    handle.change(d => setPath(d, path, value))
    await watcher.serverHas(handle)
    return { ok: true, heads: heads(handle.doc()) }
  },

  async "refused-change"(flags) {
    const path = need(flags, "path")
    const value = toAutomerge(parseJson(need(flags, "value"), "--value"), flags.strings)
    const expectPath = need(flags, "expect-path").split(".")
    const expected = JSON.stringify(parseJson(need(flags, "expect-value"), "--expect-value"))
    const watchMs = Number(flags.watch ?? "2") * 1000
    if (!(watchMs >= 0)) throw new CliError("usage", `bad --watch ${flags.watch}`)
    const adapter = new CountingAdapter(serverUrl(flags))
    const { repo, watcher } = connect(flags, adapter)
    const handle = await find(repo, need(flags, "url"), flags.timeoutMs)
    await watcher.weHave(handle)
    const [sent0, received0] = [adapter.sent, adapter.received]
    handle.change(d => setPath(d, path, value))
    process.stderr.write("changed\n")
    const at = () => {
      let v = toPlain(handle.doc())
      for (const p of expectPath) v = v?.[p]
      return JSON.stringify(v ?? null)
    }
    await new Promise(resolve => {
      const tick = setInterval(() => {
        if (adapter.errors.length > 0 && at() === expected) {
          clearInterval(tick)
          resolve()
        }
      }, 20)
    })
    await new Promise(resolve => setTimeout(resolve, watchMs))
    return {
      sent: adapter.sent - sent0,
      received: adapter.received - received0,
      errors: adapter.errors,
      doc: toPlain(handle.doc()),
    }
  },

  async "import-write"(flags) {
    const url = need(flags, "url")
    if (!isValidAutomergeUrl(url)) throw new CliError("usage", `not an automerge URL: ${url}`)
    const bytes = parseGenesis(need(flags, "genesis"), url)
    const set = parseJson(need(flags, "set"), "--set")
    if (set === null || typeof set !== "object" || Array.isArray(set))
      throw new CliError("usage", "--set must be a JSON object of path -> value")
    const writes = Object.entries(set).map(([path, v]) => [path, toAutomerge(v, flags.strings)])
    const { repo, watcher } = connect(flags)
    const { documentId } = parseAutomergeUrl(url)
    // Loads the genesis into a fresh handle (it becomes ready at once, without asking the
    // server) and registers it for sync; whatever the server holds arrives by sync later.
    const handle = repo.import(bytes, { docId: documentId })
    await handle.whenReady()
    if (writes.length > 0) handle.change(d => writes.forEach(([path, v]) => setPath(d, path, v)))
    await watcher.serverHas(handle)
    return { ok: true, heads: heads(handle.doc()) }
  },

  async "load-bytes"(flags) {
    const doc = A.load(new Uint8Array(fs.readFileSync(need(flags, "file"))))
    return { doc: toPlain(doc), heads: heads(doc) }
  },

  async "save-bytes"(flags) {
    const file = need(flags, "file")
    const init = parseJson(need(flags, "json"), "--json")
    const doc = A.from(toAutomerge(init, flags.strings))
    const bytes = A.save(doc)
    fs.writeFileSync(file, bytes)
    return { file, bytes: bytes.byteLength, heads: heads(doc) }
  },
}

async function main() {
  const { command, flags } = parseArgs(process.argv.slice(2))
  const run = commands[command]
  if (!run) throw new CliError("usage", `unknown command ${command ?? "(none)"}; one of ${Object.keys(commands).join(", ")}`)
  const timer = setTimeout(
    () => fail(new CliError("timeout", `${command} timed out after ${flags.timeoutMs / 1000} s`)),
    flags.timeoutMs,
  )
  const result = await run(flags)
  clearTimeout(timer)
  emit(result, 0)
}

main().catch(fail)
