// Scenarios of the client kit against a real Paindiary server, driven by
// tests/tests/js_kit.rs: `node scenarios.mjs NAME '<json args>'` prints one JSON line.
// Every scenario records uncaught exceptions and unhandled rejections and reports them:
// the kit must never produce one.
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises"
import { dirname, join, relative } from "node:path"

import {
  connect,
  memorySessionStore,
  validateEntry,
  readMonth,
  BODY_REGIONS, PAIN_QUALITIES, DOSE_UNIT_MAX_SINGLE_DOSE, DOSE_UNITS, ROUTES, INTAKE_STATUSES,
  INTERVENTION_KINDS, FIELDS_OF, MAP_KEYS, LIMITS, ENTRY_KINDS,
  uuidv7,
} from "../dist/index.js"
import { nodeStorage, fileSessionStore } from "../dist/storage/nodefs.js"
import { fileStorage } from "../dist/storage/files.js"
import { startProxy } from "./proxy.mjs"

const uncaught = []
process.on("uncaughtException", (e) => uncaught.push(`uncaughtException: ${e?.message ?? e}`))
process.on("unhandledRejection", (e) => uncaught.push(`unhandledRejection: ${e?.message ?? e}`))

const [name, argText] = process.argv.slice(2)
const args = JSON.parse(argText ?? "{}")

function deadline(ms, what) {
  const until = Date.now() + ms
  return async (pred) => {
    for (;;) {
      const v = await pred()
      if (v) return v
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

// The app's own file interface, as a React Native app would wrap expo-file-system.
function nodeFiles(root) {
  return {
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(root, path)))
      } catch {
        return undefined
      }
    },
    async write(path, data) {
      await mkdir(dirname(join(root, path)), { recursive: true })
      await writeFile(join(root, path), data)
    },
    async remove(path) {
      await rm(join(root, path), { force: true })
    },
    async list(dir) {
      const out = []
      const walk = async (d) => {
        let items
        try {
          items = await readdir(join(root, d), { withFileTypes: true })
        } catch {
          return
        }
        for (const it of items) {
          const p = d ? `${d}/${it.name}` : it.name
          if (it.isDirectory()) await walk(p)
          else out.push(p)
        }
      }
      await walk(dir)
      return out.map((p) => relative(root, join(root, p)).split("\\").join("/"))
    },
  }
}

const retry = { initialMs: 100, maxMs: 1000 }
const plain = (entries) =>
  entries.map((e) => ({ id: e.id, month: e.month, kind: e.entry.kind, score: e.entry.score, note: e.entry.note ?? null, drug: e.entry.drug ?? null }))

async function twoDevices() {
  const proxy = await startProxy(args.port)
  const credentials = { email: args.email, password: args.password }
  const dirA = join(args.dir, "a")
  const dirB = join(args.dir, "b")
  await mkdir(join(dirB, "files"), { recursive: true })
  const storageA = await nodeStorage(dirA)
  const storageB = fileStorage(nodeFiles(join(dirB, "files")), fileSessionStore(join(dirB, "session.json")))
  let a = await connect({ baseUrl: proxy.url, credentials: { ...credentials, deviceName: "phone A" }, storage: storageA, retry })
  const b = await connect({ baseUrl: proxy.url, credentials: { ...credentials, deviceName: "tablet B" }, storage: storageB, retry })
  const month = a.currentMonth
  const storedBefore = a.documents.months.find((m) => m.month === month).stored
  const offlineStatuses = []
  b.on("status", (s) => {
    if (s.state === "offline") offlineStatuses.push({ attempt: s.attempt, retryInMs: s.retryInMs })
  })

  // The network goes away; both devices keep logging.
  await proxy.down()
  const painA = await a.addPain({ score: 3, note: "written on A offline", locations: ["lower_back"], qualities: ["aching"] })
  const medA = await a.addMedication({ drug: "ibuprofen", amount: 400, unit: "mg", route: "oral" })
  const painB = await b.addPain({ score: 5, note: "written on B offline" })
  await b.edit(painB, { note: "written on B offline, edited" })

  // A restarts offline: its entries come back from its storage, the session from its store.
  await a.close()
  a = await connect({ baseUrl: proxy.url, storage: await nodeStorage(dirA), retry })
  const afterRestart = plain(await a.liveEntries(month))

  // B keeps retrying with backoff while the network is gone.
  await deadline(20_000, "B to retry three times")(async () => offlineStatuses.length >= 3)
  // The network is back: both reconnect (with backoff) and converge.
  await proxy.up()
  const both = deadline(30_000, "both devices to see both entries")
  const seen = {}
  for (const [label, device] of [["a", a], ["b", b]]) {
    seen[label] = await both(async () => {
      await device.sync({ timeoutMs: 10_000 }).catch(() => undefined)
      const live = await device.liveEntries(month)
      return live.filter((e) => e.entry.kind === "pain").length === 2 ? plain(live) : undefined
    })
  }
  await a.sync()
  await b.sync()
  const index = await a.index()
  await a.close()
  await b.close()
  await proxy.down()
  return { month, storedBefore, refs: { painA, medA, painB }, afterRestart, seen, indexMonths: Object.keys(index.months), offlineStatuses, retry }
}

async function newMonth() {
  // The kit's clock starts `leadMs` before the patient's next month begins (the Rust test
  // moved the server's clock alike): the kit rolls over at local midnight, and the first
  // entry of the new month starts that month from the served genesis.
  const offset = args.fakeNowMs - Date.now()
  const now = () => new Date(Date.now() + offset)
  const storage = { session: memorySessionStore() }
  const client = await connect({ baseUrl: args.baseUrl, credentials: { email: args.email, password: args.password }, storage, retry, now })
  const before = client.currentMonth
  const listed = client.documents.months.map((m) => ({ month: m.month, stored: m.stored }))
  const changed = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no month-changed event")), 15_000)
    client.on("month-changed", (e) => {
      clearTimeout(timer)
      resolve(e)
    })
  })
  const ref = await client.addPain({ score: 2, note: "first entry of the month" })
  await client.sync()
  const docs = await client.refreshDocuments()
  const index = await client.index()
  await client.close()
  return { before, listed, changed, after: client.currentMonth, ref, documentsAfter: docs.months.map((m) => ({ month: m.month, stored: m.stored })), indexMonths: Object.keys(index.months) }
}

async function sessionExpiry() {
  const store = memorySessionStore()
  const storage = { session: store }
  // A new patient redeems their invitation code through the kit.
  const client = await connect({ baseUrl: args.baseUrl, enrolment: { code: args.code, email: args.email, password: args.password }, storage, retry })
  const enrolled = (await store.load()).patientId
  const statuses = []
  client.on("status", (s) => statuses.push(s.state))
  const expired = new Promise((resolve) => client.on("session-expired", resolve))
  await client.addPain({ score: 4 })
  await client.sync()
  const token = (await store.load()).token
  // The token is revoked (here: a logout from this very token, as "log out everywhere"
  // or the clinic would): the server closes the socket; the kit must tell the app.
  const res = await fetch(`${args.baseUrl}/api/v1/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } })
  const event = await Promise.race([expired, new Promise((r) => setTimeout(() => r(null), 20_000))])
  // Give a stray reconnect loop the chance to show itself.
  await new Promise((r) => setTimeout(r, 1500))
  const storeAfter = await store.load()
  let syncError = null
  try {
    await client.sync({ timeoutMs: 1000 })
  } catch (e) {
    syncError = e.code
  }
  await client.close()
  // Connecting again with the dead token: a typed error, not a hang or a crash.
  let connectError = null
  try {
    await connect({ baseUrl: args.baseUrl, token, storage: { session: memorySessionStore() }, retry })
  } catch (e) {
    connectError = { code: e.code, name: e.name }
  }
  return { enrolled, logoutStatus: res.status, event, statuses, storeCleared: storeAfter === null, syncError, connectError }
}

async function invalidAndReadOnly() {
  const client = await connect({ baseUrl: args.baseUrl, credentials: { email: args.email, password: args.password }, storage: { session: memorySessionStore() }, retry })
  const month = client.currentMonth
  const refused = {}
  const attempt = async (label, f) => {
    try {
      await f()
      refused[label] = null
    } catch (e) {
      refused[label] = { name: e.name, code: e.code, message: e.message, errors: e.errors?.map((x) => x.code) ?? null }
    }
  }
  await attempt("score12", () => client.addPain({ score: 12 }))
  await attempt("spoonful", () => client.addMedication({ drug: "paracetamol", amount: 2, unit: "spoonful" }))
  await attempt("stringScore", () => client.addPain({ score: "seven" }))
  await attempt("nothing", () => client.addWellbeing({ note: "fine" }))
  const handle = await client.month(month)
  await attempt("carePlan", () => client.changeDocument(client.documents.care_plan.url, (d) => { d.goals = {} }))
  await attempt("index", () => client.changeDocument(client.documents.index.url, (d) => { d.months = {} }))
  const good = await client.addPain({ score: 6 })
  await attempt("badEdit", () => client.edit(good, { score: 11 }))
  await attempt("unknownField", () => client.edit(good, { dose: 3 }))
  const localAfterRefusals = plain(await client.liveEntries(month))

  // What an old app or another client might write, raw: the server keeps it and reports it.
  const ids = { score12: uuidv7(), stringScore: uuidv7(), noTz: uuidv7(), badKey: "not-a-uuid" }
  const at = new Date()
  await client.changeDocument(client.monthUrl(month), (d) => {
    d.pain[ids.score12] = { recorded_at: at, tz: "Europe/Berlin", score: 12 }
    d.pain[ids.stringScore] = { recorded_at: at, tz: "Europe/Berlin", score: "seven" }
    d.pain[ids.noTz] = { recorded_at: at, score: 4 }
    d.pain[ids.badKey] = { recorded_at: at, tz: "Europe/Berlin", score: 5 }
  })
  await client.sync()
  const local = readMonth(handle.doc())
  const issues = await deadline(20_000, "the server's entry issues")(async () => {
    const found = await client.entryIssues()
    return found.length >= 4 ? found : undefined
  })
  // "This entry needs fixing": the app edits the two unreadable ones whole again.
  await client.edit({ kind: "pain", id: ids.stringScore, month }, { score: 7 })
  await client.edit({ kind: "pain", id: ids.noTz, month }, { tz: "Europe/Berlin" })
  await client.sync()
  const issuesAfterFix = await deadline(20_000, "the fixed entries to leave the issues")(async () => {
    const found = await client.entryIssues()
    return found.length === 2 ? found : undefined
  })
  const liveAfterFix = plain(await client.liveEntries(month))
  await client.close()
  return { month, refused, localAfterRefusals, ids, localUnreadable: local.unreadable, issues, issuesAfterFix, liveAfterFix }
}

async function vocab() {
  const cases = JSON.parse(await readFile(args.cases, "utf8"))
  const now = new Date(args.now)
  const results = cases.map((c) => {
    const entry = {}
    for (const [k, v] of Object.entries(c)) if (v !== null) entry[k] = v
    entry.recorded_at = new Date(c.recorded_at)
    if (entry.locations?.length === 0) delete entry.locations
    if (entry.qualities?.length === 0) delete entry.qualities
    return validateEntry(entry, now)
  })
  return {
    vocab: {
      body_regions: BODY_REGIONS, pain_qualities: PAIN_QUALITIES, dose_units: DOSE_UNIT_MAX_SINGLE_DOSE, dose_unit_order: DOSE_UNITS,
      routes: ROUTES, intake_statuses: INTAKE_STATUSES, intervention_kinds: INTERVENTION_KINDS,
      fields_of: FIELDS_OF, map_keys: MAP_KEYS, limits: LIMITS, entry_kinds: ENTRY_KINDS,
    },
    results,
  }
}

// Runs every ```js block of a Markdown file as a module inside this package (so
// `@paindiary/client` resolves to it) and checks each `// => text` comment against the
// line the block printed, in order.
async function docExamples() {
  const { execFile } = await import("node:child_process")
  const markdown = await readFile(args.markdown, "utf8")
  const blocks = [...markdown.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
  const results = []
  for (const [i, code] of blocks.entries()) {
    // One file per process: the suite runs this scenario for each database at once.
    const file = join(import.meta.dirname, `.doc-example-${process.pid}-${i}.mjs`)
    await writeFile(file, code)
    const expected = code.split("\n").flatMap((line) => {
      const at = line.indexOf("// => ")
      return at >= 0 ? [line.slice(at + 6).trim()] : []
    })
    const run = await new Promise((resolve) => {
      execFile(process.execPath, [file], { env: { ...process.env, ...args.env }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }))
    })
    await rm(file, { force: true })
    const printed = run.stdout.split("\n").filter((l) => l !== "")
    results.push({ block: i, exit: run.code, printed, expected, stderr: run.stderr.slice(0, 2000) })
  }
  return { blocks: results }
}

const scenarios = {
  "doc-examples": docExamples, "two-devices": twoDevices, "new-month": newMonth, "session-expiry": sessionExpiry, "invalid-and-read-only": invalidAndReadOnly, vocab }
let out
try {
  out = { ok: true, ...(await scenarios[name]()) }
} catch (e) {
  out = { ok: false, error: `${e?.name}: ${e?.message}`, stack: e?.stack }
}
out.uncaught = uncaught
console.log(JSON.stringify(out))
process.exit(out.ok ? 0 : 1)
