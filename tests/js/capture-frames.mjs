#!/usr/bin/env node
// Records the automerge-repo v1 wire frames exchanged between real JS clients and the
// reference sync server (automerge-repo 2.5.6), as fixtures for the Rust codec tests.
//
// Usage: node capture-frames.mjs [--out DIR]
//   default DIR: ../../crates/sync/tests/fixtures/js-frames (relative to this file)
//
// Topology: client repo A --ws--> recording proxy --ws--> in-process sync server
//           client repo B --ws--> recording proxy --ws--> (same server)
// Every binary frame in both directions is written to DIR/NNN-<c2s|s2c>-<type>.cbor
// (NNN = global capture order, type = the CBOR map's `type` field), plus
// DIR/manifest.json describing each frame (connection, decoded fields, sizes).
// Existing *.cbor files and manifest.json in DIR are removed first.

import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { WebSocketServer, WebSocket } from "ws"
import { decode } from "cbor-x"
import * as A from "@automerge/automerge"
import { Repo, generateAutomergeUrl } from "@automerge/automerge-repo"
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { SyncWatcher, heads } from "./lib.mjs"

const here = path.dirname(fileURLToPath(import.meta.url))
let outDir = path.resolve(here, "../../crates/sync/tests/fixtures/js-frames")
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out") outDir = path.resolve(args[++i])
  else throw new Error(`unknown argument ${args[i]}`)
}

const log = msg => process.stderr.write(`capture: ${msg}\n`)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "am-capture-"))
const deadline = setTimeout(() => {
  log("scenario timed out")
  process.exit(1)
}, 60_000)

async function until(what, pred, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

// ---- reference sync server (in-process) ----
const serverWss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await new Promise(r => serverWss.on("listening", r))
const server = new Repo({
  network: [new WebSocketServerAdapter(serverWss)],
  storage: new NodeFSStorageAdapter(path.join(tmp, "server")),
  peerId: "capture-sync-server",
  sharePolicy: async () => true,
  enableRemoteHeadsGossiping: true,
})
const serverUrl = `ws://127.0.0.1:${serverWss.address().port}`

// ---- recording proxy ----
const frames = []
let connCount = 0
const proxyWss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await new Promise(r => proxyWss.on("listening", r))
proxyWss.on("connection", (client, req) => {
  const conn = String.fromCharCode("a".charCodeAt(0) + connCount++)
  const upstream = new WebSocket(serverUrl + (req.url ?? "/"))
  const pending = []
  const record = (direction, data, isBinary) => {
    if (!isBinary) {
      log(`conn ${conn} ${direction}: unexpected text frame`)
      return
    }
    frames.push({ conn, direction, bytes: new Uint8Array(data) })
  }
  client.on("message", (data, isBinary) => {
    record("c2s", data, isBinary)
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary })
    else pending.push([data, isBinary])
  })
  upstream.on("open", () => {
    for (const [data, isBinary] of pending) upstream.send(data, { binary: isBinary })
    pending.length = 0
  })
  upstream.on("message", (data, isBinary) => {
    record("s2c", data, isBinary)
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary })
  })
  client.on("close", () => upstream.close())
  upstream.on("close", () => client.close())
  client.on("error", e => log(`client socket error ${e}`))
  upstream.on("error", e => log(`upstream socket error ${e}`))
})
const proxyUrl = `ws://127.0.0.1:${proxyWss.address().port}`

function client(name, withStorage) {
  const repo = new Repo({
    network: [new WebSocketClientAdapter(proxyUrl)],
    storage: withStorage ? new NodeFSStorageAdapter(path.join(tmp, name)) : undefined,
    peerId: `capture-client-${name}`,
    enableRemoteHeadsGossiping: true,
  })
  return { repo, watcher: new SyncWatcher(repo) }
}

// ---- scenario ----
// 1. Client A (with storage, so it has a storageId) joins and creates a document.
const a = client("a", true)
await until("A connected", () => a.repo.peers.length > 0)
const handleA = a.repo.create({
  schema: "paindiary/capture/v1",
  title: "Knee pain diary", // automerge 3: a Text object
  entries: { e1: { pain: { nrs: 4, qualities: ["aching"] }, note: "after walk" } },
})
await a.watcher.serverHas(handleA)
log(`created ${handleA.url}`)

// 2. A changes it: a nested map field and a splice into the Text field.
handleA.change(d => {
  d.entries.e1.pain.nrs = 6
  A.splice(d, ["title"], 0, 0, "Left ")
})
await a.watcher.serverHas(handleA)

// 3. Client B (no storage) joins, subscribes to A's storage heads, finds the document.
const b = client("b", false)
await until("B connected", () => b.repo.peers.length > 0)
const storageIdA = await a.repo.storageId()
b.repo.subscribeToRemotes([storageIdA])
const handleB = await b.repo.find(handleA.url, { signal: AbortSignal.timeout(10_000) })
await b.watcher.weHave(handleB)

// 4. A changes again; the server forwards it to B (and gossips A's new heads to B).
let remoteHeadsSeen = false
handleB.on("remote-heads", () => (remoteHeadsSeen = true))
handleA.change(d => {
  d.entries.e2 = { pain: { nrs: 3 }, note: "better" }
})
await a.watcher.serverHas(handleA)
await until("B has A's change", () => A.hasHeads(handleB.doc(), A.getHeads(handleA.doc())))
await until("remote heads gossip to B", () => remoteHeadsSeen, 3000).catch(e => log(String(e.message)))

// 5. Ephemeral message from A reaches B.
let ephemeralSeen = false
handleB.on("ephemeral-message", () => (ephemeralSeen = true))
handleA.broadcast({ kind: "presence", cursor: 3 })
await until("B got the ephemeral message", () => ephemeralSeen)

// 6. B looks for a document nobody has.
const missing = generateAutomergeUrl()
try {
  await b.repo.find(missing, { signal: AbortSignal.timeout(3000) })
  throw new Error("nonexistent document was found")
} catch (e) {
  log(`find ${missing}: ${e.message}`)
}

// 7. Let stray messages flow, then both clients leave.
await sleep(500)
// Repo.shutdown() disconnects the adapters, then flushes every cached handle to storage and
// throws "DocHandle is not ready" for an unavailable one (A holds one: the server asked A
// for the missing document too). The sockets are closed by then, so ignore that.
async function leave(repo) {
  try {
    await repo.shutdown()
  } catch (e) {
    log(`shutdown: ${e.message} (ignored)`)
  }
}
await leave(b.repo)
await leave(a.repo)
await sleep(300)

// 8. A crafted join (conn c, not a Repo) offering only an unknown protocol version: the
//    server answers with an `error` frame and closes the socket.
{
  const { cbor } = await import("@automerge/automerge-repo")
  const raw = new WebSocket(proxyUrl)
  await new Promise((resolve, reject) => {
    raw.on("open", () =>
      raw.send(
        cbor.encode({
          type: "join",
          senderId: "capture-crafted-c",
          peerMetadata: { isEphemeral: true },
          supportedProtocolVersions: ["99"],
        }),
      ),
    )
    raw.on("close", resolve)
    raw.on("error", reject)
  })
  await sleep(100)
}

// ---- write fixtures ----
fs.mkdirSync(outDir, { recursive: true })
for (const f of fs.readdirSync(outDir)) {
  if (f.endsWith(".cbor") || f === "manifest.json") fs.unlinkSync(path.join(outDir, f))
}

function summarize(v) {
  if (v instanceof Uint8Array)
    return { $bytes: v.byteLength, first: v.byteLength ? v[0] : null }
  if (Array.isArray(v)) return v.map(summarize)
  if (v && typeof v === "object") {
    const out = {}
    for (const k of Object.keys(v)) out[k] = summarize(v[k])
    return out
  }
  return v
}

const manifest = {
  generatedBy: "tests/js/capture-frames.mjs",
  packages: Object.fromEntries(
    [
      "@automerge/automerge",
      "@automerge/automerge-repo",
      "@automerge/automerge-repo-network-websocket",
      "cbor-x",
      "ws",
    ].map(p => [
      p,
      JSON.parse(fs.readFileSync(path.join(here, "node_modules", p, "package.json"), "utf8")).version,
    ]),
  ),
  connections: {
    a: "capture-client-a: Repo with NodeFS storage (has a storageId)",
    b: "capture-client-b: Repo without storage (isEphemeral: true)",
    c: "capture-crafted-c: hand-made join offering protocol version 99 (not a Repo)",
  },
  documentUrl: handleA.url,
  finalHeads: heads(handleA.doc()),
  missingUrl: missing,
  frames: [],
}
frames.forEach((f, i) => {
  const msg = decode(f.bytes)
  const type = typeof msg?.type === "string" ? msg.type.replace(/[^a-z0-9-]/gi, "_") : "unknown"
  const file = `${String(i + 1).padStart(3, "0")}-${f.direction}-${type}.cbor`
  fs.writeFileSync(path.join(outDir, file), f.bytes)
  manifest.frames.push({ file, conn: f.conn, direction: f.direction, size: f.bytes.byteLength, message: summarize(msg) })
})
fs.writeFileSync(path.join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n")
log(`wrote ${frames.length} frames to ${outDir}`)
for (const fr of manifest.frames) process.stdout.write(`${fr.file} conn=${fr.conn} ${fr.size} bytes\n`)

// ---- tear down ----
clearTimeout(deadline)
for (const c of proxyWss.clients) c.terminate()
proxyWss.close()
await server.shutdown().catch(() => {})
serverWss.close()
fs.rmSync(tmp, { recursive: true, force: true })
process.exit(0)
