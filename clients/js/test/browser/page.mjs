// The kit in a web page, for the headless Chromium test (tests/tests/js_kit_browser.rs):
// documents in IndexedDB, the session in localStorage, the server at this page's origin.
// Bundled with esbuild (`npm run build:browser`); WebDriver calls `window.kitStep`.
import { connect } from "../../dist/index.js"
import { browserStorage } from "../../dist/storage/indexeddb.js"

let client
const storage = () => browserStorage("paindiary-kit-test")
const retry = { initialMs: 100, maxMs: 1000 }
const plain = (entries) => entries.map((e) => ({ id: e.id, kind: e.entry.kind, score: e.entry.score ?? null, note: e.entry.note ?? null }))

const steps = {
  async login({ email, password }) {
    client = await connect({ baseUrl: location.origin, credentials: { email, password, deviceName: "browser" }, storage: storage(), retry })
    return { month: client.currentMonth, stored: client.documents.months.find((m) => m.month === client.currentMonth).stored }
  },
  async open() {
    client = await connect({ baseUrl: location.origin, storage: storage(), retry })
    return { month: client.currentMonth, status: client.status.state }
  },
  async add({ score, note }) {
    const ref = await client.addPain({ score, note })
    return { ref, live: plain(await client.liveEntries()) }
  },
  async read() {
    return { live: plain(await client.liveEntries()) }
  },
  async sync() {
    await client.sync({ timeoutMs: 20_000 })
    return { live: plain(await client.liveEntries()), status: client.status.state }
  },
  async close() {
    await client.close()
    return {}
  },
}

window.kitStep = async (name, args) => {
  try {
    return JSON.stringify({ ok: true, ...(await steps[name](args ?? {})) })
  } catch (e) {
    return JSON.stringify({ ok: false, error: `${e?.name}: ${e?.message}` })
  }
}
window.kitReady = true
