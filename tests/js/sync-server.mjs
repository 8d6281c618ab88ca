#!/usr/bin/env node
// Reference automerge-repo sync server (automerge-repo 2.5.6) for Paindiary's tests.
//
// Usage:
//   node sync-server.mjs [--port N] [--dir DIR] [--remote-heads] [DIR]
//     --port N        TCP port on 127.0.0.1 (also env PORT); 0 (default) = any free port
//     --dir DIR       NodeFS storage directory (also env SYNC_DIR, or the first positional
//                     argument); default: a fresh temporary directory
//     --remote-heads  enableRemoteHeadsGossiping on the server repo
//
// Contract: once listening, prints exactly one line to stdout,
//   {"ready":true,"port":N,"peerId":"...","dir":"..."}
// and nothing else on stdout. It exits with status 0 on SIGTERM/SIGINT, and when its
// stdin is a pipe or socket that reaches end-of-file (a Rust test that drops the
// child's stdin handle or dies stops the server). Logs go to stderr (DEBUG=automerge-repo:*).
//
// Like the upstream example sync server it is generous: it shares every document with every
// peer (default share policy) and answers anyone who knows a document ID.

import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

function parseArgs(argv) {
  const opts = { port: process.env.PORT ?? "0", dir: process.env.SYNC_DIR, remoteHeads: false }
  const positional = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === "--port") opts.port = argv[++i]
    else if (a.startsWith("--port=")) opts.port = a.slice(7)
    else if (a === "--dir") opts.dir = argv[++i]
    else if (a.startsWith("--dir=")) opts.dir = a.slice(6)
    else if (a === "--remote-heads") opts.remoteHeads = true
    else if (a.startsWith("--")) throw new Error(`unknown flag ${a}`)
    else positional.push(a)
  }
  if (!opts.dir && positional.length > 0) opts.dir = positional[0]
  const port = Number(opts.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${opts.port}`)
  opts.port = port
  return opts
}

function fail(err) {
  process.stderr.write(`sync-server: ${err?.stack ?? err}\n`)
  process.exit(1)
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (e) {
  fail(e)
}
const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "am-sync-server-"))
fs.mkdirSync(dir, { recursive: true })

const wss = new WebSocketServer({ host: "127.0.0.1", port: opts.port })
wss.on("error", fail)

const peerId = `sync-server-${os.hostname()}-${process.pid}`
const repo = new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId,
  // Generous: announce every document to every peer, give everyone access.
  sharePolicy: async () => true,
  enableRemoteHeadsGossiping: opts.remoteHeads,
})

wss.on("listening", () => {
  const { port } = wss.address()
  process.stdout.write(JSON.stringify({ ready: true, port, peerId, dir }) + "\n")
})

let stopping = false
async function stop(reason) {
  if (stopping) return
  stopping = true
  process.stderr.write(`sync-server: stopping (${reason})\n`)
  // Never hang on shutdown: a hard deadline, then exit regardless.
  setTimeout(() => process.exit(0), 2000).unref()
  try {
    await repo.flush()
  } catch (e) {
    process.stderr.write(`sync-server: flush failed: ${e}\n`)
  }
  for (const client of wss.clients) client.terminate()
  wss.close(() => process.exit(0))
}

process.on("SIGTERM", () => stop("SIGTERM"))
process.on("SIGINT", () => stop("SIGINT"))

// Exit when stdin closes, but only if stdin is a pipe or socket: with /dev/null or a TTY
// stdin, end-of-file says nothing about the parent.
try {
  const st = fs.fstatSync(0)
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on("end", () => stop("stdin closed"))
    process.stdin.on("close", () => stop("stdin closed"))
    process.stdin.on("error", () => stop("stdin error"))
    process.stdin.resume()
  }
} catch {
  // no stdin at all
}
