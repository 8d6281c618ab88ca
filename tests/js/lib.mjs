// Helpers shared by client.mjs and capture-frames.mjs.
import * as A from "@automerge/automerge"

// JSON -> value to write into an Automerge document.
export function toAutomerge(v, strings) {
  if (typeof v === "string") return strings === "raw" ? new A.ImmutableString(v) : v
  if (Array.isArray(v)) return v.map(x => toAutomerge(x, strings))
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v)
    if (keys.length === 1) {
      if (keys[0] === "$date") return new Date(v.$date)
      if (keys[0] === "$counter") return new A.Counter(v.$counter)
      if (keys[0] === "$bytes") return new Uint8Array(Buffer.from(v.$bytes, "base64"))
    }
    const out = {}
    for (const k of keys) out[k] = toAutomerge(v[k], strings)
    return out
  }
  return v
}

// Automerge document (or value) -> plain JSON.
export function toPlain(v) {
  if (v === null || v === undefined) return null
  if (typeof v === "string" || typeof v === "boolean") return v
  if (typeof v === "number") return v
  if (typeof v === "bigint") return Number(v)
  if (A.isImmutableString(v)) return v.toString()
  if (A.isCounter(v)) return v.value
  if (v instanceof Date) return v.toISOString()
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("base64") }
  if (Array.isArray(v)) return v.map(toPlain)
  if (typeof v === "object") {
    const out = {}
    for (const k of Object.keys(v)) out[k] = toPlain(v[k])
    return out
  }
  return String(v)
}

export function heads(doc) {
  return [...A.getHeads(doc)].sort()
}

// Tracks, per document, the heads the server last reported (sync state theirHeads).
export class SyncWatcher {
  constructor(repo) {
    this.theirHeads = new Map()
    this.waiters = new Set()
    repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
      if (syncState.theirHeads) this.theirHeads.set(documentId, syncState.theirHeads)
      for (const w of [...this.waiters]) w()
    })
  }
  // Resolve once pred(theirHeads) holds, re-checking on every sync-state event and on ticks.
  until(documentId, pred) {
    return new Promise(resolve => {
      const check = () => {
        const theirs = this.theirHeads.get(documentId)
        if (theirs && pred(theirs)) {
          this.waiters.delete(check)
          clearInterval(tick)
          resolve()
        }
      }
      const tick = setInterval(check, 50)
      this.waiters.add(check)
      check()
    })
  }
  // The server has every change of our current document.
  serverHas(handle) {
    return this.until(handle.documentId, theirs => {
      const set = new Set(theirs)
      return A.getHeads(handle.doc()).every(h => set.has(h))
    })
  }
  // We have every change the server reported.
  weHave(handle) {
    return this.until(handle.documentId, theirs => A.hasHeads(handle.doc(), theirs))
  }
}
